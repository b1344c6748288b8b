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
	env := os.Environ()
	if os.Getenv("GOFLAGS") == "" {
		env = append(env, "GOFLAGS=-mod=mod") // as the Makefile
	}
	builds := []struct {
		out, pkg string
		env      []string
	}{
		{"runuml", "./cmd/runuml", env},
		// The agent runs as the guest's init with no libc: static.
		{"runuml-init", "./cmd/runuml-init", append(env[:len(env):len(env)], "CGO_ENABLED=0")},
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Env, cmd.Stdout, cmd.Stderr = b.env, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go build %s (run from the repository root): %w", b.pkg, err)
		}
	}
	return filepath.Join(dir, "runuml"), nil
}

// bundle is one OCI bundle shared by every runtime; set rewrites its process args per case.
type bundle struct {
	dir  string
	spec map[string]any // config.json from `runc spec`, kept generic so no field is lost
}

// makeBundle makes a busybox-static rootfs and a `runc spec` config.json in dir.
func makeBundle(dir string) (*bundle, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	bin := filepath.Join(dir, "rootfs", "bin")
	// proc, dev and sys exist in every real image. runc creates missing mount points before
	// it makes the root read-only; runuml cannot (its rootfs bind is already read-only), so
	// they are made here to measure the same thing for all runtimes.
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
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return nil, err
		}
	}
	spec := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	b := &bundle{dir: dir}
	data, err = os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &b.spec); err != nil {
		return nil, err
	}
	return b, b.set("true")
}

// set writes config.json with terminal false and args as the container's process.
func (b *bundle) set(args ...string) error {
	proc, ok := b.spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644)
}

// Environment variable marking the re-executed benchmark inside its own mount namespace.
const nsEnv = "RUNUML_BENCH_LIFECYCLE_NS"

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
