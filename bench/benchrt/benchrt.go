// Package benchrt is what the benchmarks that compare runuml with runc and crun share: the
// start and cleanup of a run (bench.go), building runuml as `make build` does, a private mount
// namespace in which crun runs on this host, an OCI runtime CLI with a state root of its own
// (this file), a busybox bundle (bundle.go) and the common parts of the markdown reports
// (report.go).
package benchrt

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BuildRunuml builds runuml and runuml-init into dir, versioned as `make build` does, and
// returns the path of runuml (it finds runuml-init beside itself).
func BuildRunuml(dir string) (string, error) {
	version := "dev"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	ldflags := "-X main.version=" + version
	for _, b := range []struct{ out, pkg string }{
		{"runuml", "./cmd/runuml"},
		{"runuml-init", "./cmd/runuml-init"}, // the guest's init, with no libc: static
	} {
		if err := GoBuild(filepath.Join(dir, b.out), b.pkg, ldflags, b.out == "runuml-init"); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "runuml"), nil
}

// GoBuild builds package pkg (a path from the repository root) to out.
func GoBuild(out, pkg, ldflags string, static bool) error {
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
	// Written back now, as an installed binary is: the host cannot reclaim dirty page-cache
	// pages of a mapped binary (the monitor's page-out skips them), which made the memory of a
	// lone container depend on how recently the benchmark had built runuml.
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// hybridCgroup2 is the cgroup2 mount of a hybrid hierarchy. crun 1.8 refuses to run when
// it has controllers ("cgroups in hybrid mode not supported"); this machine's has hugetlb.
const hybridCgroup2 = "/sys/fs/cgroup/unified"

// CrunNamespace makes crun usable on a hybrid cgroup host when runtimes names it: the
// benchmark runs again in a private mount namespace (Go makes its mounts private) where the
// cgroup2 mount is hidden, so all runtimes see the same v1-only hierarchy; the host is
// untouched. The first call exits with the re-run's status; in the re-run (env set) it hides
// the mount and returns a note for the report, "" when nothing was needed.
func CrunNamespace(runtimes, env string) (string, error) {
	data, err := os.ReadFile(filepath.Join(hybridCgroup2, "cgroup.controllers"))
	if !strings.Contains(runtimes, "crun") || err != nil || strings.TrimSpace(string(data)) == "" {
		return "", nil
	}
	if os.Getenv(env) == "" {
		status, err := reexecPrivate(env)
		if err != nil {
			return "", err
		}
		os.Exit(status)
	}
	if err := unix.Unmount(hybridCgroup2, unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("unmount %s in the private namespace: %w", hybridCgroup2, err)
	}
	return "The benchmark ran in a private mount namespace without the hybrid cgroup2 mount " +
		hybridCgroup2 + " (crun 1.8 refuses hybrid cgroups with controllers in cgroup2): " +
		"all runtimes saw cgroup v1 only.", nil
}

// reexecPrivate runs the benchmark again in a private mount namespace with env set and returns
// its exit status.
func reexecPrivate(env string) (int, error) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env+"=1")
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

// Runtime is one OCI runtime CLI with a state root of its own under the work dir.
type Runtime struct {
	Name  string
	Bin   string
	root  string
	work  string   // the work dir, TMP in PrintFailures
	dir   string   // Name as a file name
	Fails []string // errors of failed attempts, retried and reported

	stderr *os.File // a file, not a pipe: waiting for a pipe's EOF would be timed too
	n      int      // containers made so far, for fresh ids
}

// newRuntime makes the runtime's state root and stderr file under work.
func newRuntime(name, bin, work string) (*Runtime, error) {
	dir := strings.NewReplacer(" ", "-", "=", "-", ",", "-", "/", "-").Replace(name)
	r := &Runtime{Name: name, Bin: bin, root: filepath.Join(work, "root-"+dir), dir: dir, work: work}
	var err error
	r.stderr, err = os.Create(filepath.Join(work, "stderr-"+dir))
	return r, err
}

// maxTries bounds Attempt: a runtime failing this often in a row ends the benchmark.
const maxTries = 3

// Attempt runs f until it succeeds, up to maxTries times. A flaky failure should not void
// the whole benchmark, so each is counted, reported and retried with a fresh container.
func (r *Runtime) Attempt(f func() error) error {
	var err error
	for range maxTries {
		if err = f(); err == nil {
			return nil
		}
		r.Fails = append(r.Fails, err.Error())
		fmt.Fprintf(os.Stderr, "failed, retrying: %v\n", err)
	}
	return err
}

// NewID returns an id never used before, so no run sees state left by another.
func (r *Runtime) NewID() string {
	r.n++
	return fmt.Sprintf("%s%d", r.idPrefix(), r.n)
}

// idPrefix is what all of NewID's ids start with.
func (r *Runtime) idPrefix() string { return fmt.Sprintf("b%d-%s-", os.Getpid(), r.dir) }

// Command is the runtime's CLI with its state root and args.
func (r *Runtime) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.Bin, append([]string{"--root", r.root}, args...)...)
}

// errText returns what the runtime wrote to stderr in its last call.
func (r *Runtime) errText() string {
	data, _ := os.ReadFile(r.stderr.Name())
	if len(data) > 1000 {
		data = data[len(data)-1000:]
	}
	return strings.TrimSpace(string(data))
}

// Call runs the runtime with args and returns its wall time; its stderr goes to the
// runtime's file, read back into the error. stdin and stdout may be pipe ends; they are
// closed here once the runtime has them.
func (r *Runtime) Call(timeout time.Duration, stdin, stdout *os.File, args ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.stderr.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := r.stderr.Seek(0, 0); err != nil {
		return 0, err
	}
	cmd := r.Command(ctx, args...)
	cmd.Stderr = r.stderr
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	start := time.Now()
	err := cmd.Start()
	// Our copies of the pipe ends must go, or the other side never sees EOF.
	for _, f := range []*os.File{stdin, stdout} {
		if f != nil {
			f.Close()
		}
	}
	if err == nil {
		err = cmd.Wait()
	}
	el := time.Since(start)
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return el, fmt.Errorf("%s %s: %w: %s", r.Name, strings.Join(args, " "), err, r.errText())
	}
	return el, nil
}

// ForceDelete removes container id whatever its state; errors are ours to ignore (it may be
// gone already).
func (r *Runtime) ForceDelete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.Command(ctx, "delete", "--force", id).Run()
}

// Cleanup deletes every container left in the state root, then the root itself.
func (r *Runtime) Cleanup() {
	if out, err := r.Command(context.Background(), "list", "-q").Output(); err == nil {
		for _, id := range strings.Fields(string(out)) {
			r.ForceDelete(id)
		}
	}
	os.RemoveAll(r.root)
	r.stderr.Close()
}

// Median is the median of v, 0 for none.
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
