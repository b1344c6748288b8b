package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Set up once by TestMain.
var (
	skipReason string   // why every test skips; empty when they can run
	runumlBin  string   // the runuml built for this run; runuml-init is beside it
	suiteDir   string   // temp dir of this run: one subdirectory (root, log, bundles) per test
	applets    []string // busybox applets to link in every rootfs
)

// Where runuml looks for a guest kernel, in its order (guest.FindKernel): $RUNUML_KERNEL
// alone if set, else the installed one, else Debian's.
func kernelPaths() []string {
	if p := os.Getenv("RUNUML_KERNEL"); p != "" {
		return []string{p}
	}
	return []string{"/usr/local/lib/runuml/kernel/linux", "/usr/bin/linux.uml"}
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if skipReason = checkHost(); skipReason != "" {
		fmt.Println("integration: skipping every test:", skipReason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "runuml-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	suiteDir = dir
	if err := build(filepath.Join(dir, "bin")); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	runumlBin = filepath.Join(dir, "bin", "runuml")
	// Test the runuml-init built beside runuml, not one named by the environment.
	os.Unsetenv("RUNUML_INIT")
	if applets, err = busyboxApplets(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	// As containerd's shim does: a created container's monitor, orphaned when `runuml create`
	// exits, becomes our child, so its exit status (the container's) can be read.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "integration: become a child subreaper:", err)
		return 1
	}
	defer stopDaemons() // dockerd and containerd, if a test started them
	return m.Run()
}

// checkHost returns why the tests cannot run here, or "".
func checkHost() string {
	if os.Geteuid() != 0 {
		return "they must run as root (each guest runs jailed in new namespaces)"
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "no /bin/busybox for the test rootfs (apt-get install busybox-static)"
	}
	for _, p := range kernelPaths() {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return ""
		}
	}
	return fmt.Sprintf("no guest kernel at %s (run `make kernel`, or set RUNUML_KERNEL)", strings.Join(kernelPaths(), " or "))
}

// requireGuests skips a test whose subtests would each skip.
func requireGuests(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// build builds runuml and a static runuml-init into dir from the repository root.
func build(dir string) error {
	for _, b := range []struct {
		out, pkg string
		env      []string
	}{
		{"runuml", "./cmd/runuml", nil},
		{"runuml-init", "./cmd/runuml-init", []string{"CGO_ENABLED=0"}},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// busyboxApplets lists the applets of the host's busybox, without busybox itself: a link
// named busybox pointing at busybox would be a loop.
func busyboxApplets() ([]string, error) {
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	var list []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			list = append(list, a)
		}
	}
	return list, nil
}
