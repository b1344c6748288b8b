package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// buildRunuml builds runuml and runuml-init into dir, versioned as `make build` does, and
// returns the path of runuml (it finds runuml-init beside itself).
func buildRunuml(dir string) (string, error) {
	version := "dev"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	ldflags := "-X main.version=" + version
	for _, b := range []struct{ out, pkg string }{
		{"runuml", "./cmd/runuml"},
		{"runuml-init", "./cmd/runuml-init"}, // the guest's init, with no libc: static
	} {
		if err := goBuild(filepath.Join(dir, b.out), b.pkg, ldflags, b.out == "runuml-init"); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "runuml"), nil
}

func goBuild(out, pkg, ldflags string, static bool) error {
	env := os.Environ()
	if os.Getenv("GOFLAGS") == "" {
		env = append(env, "GOFLAGS=-mod=mod") // as the Makefile
	}
	if static {
		env = append(env, "CGO_ENABLED=0")
	}
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (run from the repository root): %w", pkg, err)
	}
	return nil
}

// bundle is one OCI bundle shared by every runtime; set rewrites its network namespace,
// annotations and process args per container.
type bundle struct {
	dir      string
	tcpbench string         // the same static binary as the rootfs's /bin/tcpbench, for the host
	spec     map[string]any // config.json from `runc spec`, kept generic so no field is lost
}

// makeBundle makes a busybox-static rootfs with a static tcpbench and a `runc spec`
// config.json in dir.
func makeBundle(dir string) (*bundle, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	bin := filepath.Join(dir, "rootfs", "bin")
	// Mount points exist in every real image; runuml cannot make them in its read-only root.
	for _, d := range []string{bin, "rootfs/proc", "rootfs/dev", "rootfs/sys"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		return nil, err
	}
	for _, applet := range []string{"sh", "ip", "cat", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return nil, err
		}
	}
	b := &bundle{dir: dir, tcpbench: filepath.Join(bin, "tcpbench")}
	if err := goBuild(b.tcpbench, "./bench/net/tcpbench", "-s -w", true); err != nil {
		return nil, err
	}
	spec := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	if data, err = os.ReadFile(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	return b, json.Unmarshal(data, &b.spec)
}

// set writes config.json with the network namespace at nsPath, the annotations, terminal
// false and args as the container's process.
func (b *bundle) set(nsPath string, annotations map[string]string, args ...string) error {
	proc, ok := b.spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	linux, _ := b.spec["linux"].(map[string]any)
	nss, _ := linux["namespaces"].([]any)
	found := false
	for _, n := range nss {
		if n, ok := n.(map[string]any); ok && n["type"] == "network" {
			n["path"], found = nsPath, true
		}
	}
	if !found {
		return fmt.Errorf("config.json from runc spec has no network namespace")
	}
	delete(b.spec, "annotations")
	delete(linux, "sysctl")
	ann := map[string]string{}
	sysctl := map[string]any{}
	for k, v := range annotations {
		if name, ok := strings.CutPrefix(k, "sysctl."); ok {
			sysctl[name] = v
		} else {
			ann[k] = v
		}
	}
	if len(ann) > 0 {
		b.spec["annotations"] = ann
	}
	if len(sysctl) > 0 {
		linux["sysctl"] = sysctl
	}
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644)
}

// Environment variable marking the re-executed benchmark inside its own mount namespace.
const nsEnv = "RUNUML_BENCH_NET_NS"

// hybridCgroup2 is the cgroup2 mount of a hybrid hierarchy. crun 1.8 refuses to run when
// it has controllers ("cgroups in hybrid mode not supported"); this machine's has hugetlb.
const hybridCgroup2 = "/sys/fs/cgroup/unified"

// needPrivateNS reports whether crun would refuse this machine's cgroup setup.
func needPrivateNS() bool {
	data, err := os.ReadFile(filepath.Join(hybridCgroup2, "cgroup.controllers"))
	return err == nil && strings.TrimSpace(string(data)) != ""
}

// reexecPrivate runs the benchmark again in a private mount namespace (Go makes its mounts
// private) and returns its exit status. There the cgroup2 mount is hidden, so that all three
// runtimes see the same v1-only hierarchy and crun runs; the host is untouched.
func reexecPrivate() (int, error) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	// The child cleans up on these; we only pass them on and wait for it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return 1, err
	}
	return 0, nil
}

// hideCgroup2 unmounts the hybrid cgroup2 mount in our private namespace.
func hideCgroup2() error {
	if err := unix.Unmount(hybridCgroup2, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s in the private namespace: %w", hybridCgroup2, err)
	}
	return nil
}
