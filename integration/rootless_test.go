package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootlessUID is the unprivileged user the rootless test runs runuml as.
const rootlessUID = 1000

// rootlessEnv is newEnv for runuml run by rootlessUID: go-runc calls a wrapper that drops to
// that user (go-runc's Runc has no uid of its own), the test's directory is the user's, and
// the suite's is open to it. The bundles it makes must be given to the user (chownAll).
func rootlessEnv(t *testing.T) *env {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv (util-linux) to drop privileges")
	}
	e := newEnv(t)
	// The suite's dir is root's 0700; the user needs to reach the binaries and its own dir.
	if err := os.Chmod(suiteDir, 0o711); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(e.dir, "runuml-as-user")
	// go-runc writes exec's --process file as its caller (root here; the user itself under a
	// rootless containerd), readable by that caller alone.
	script := fmt.Sprintf(`#!/bin/sh
prev=
for a in "$@"; do [ "$prev" = --process ] && chown %[1]d:%[1]d "$a"; prev=$a; done
exec setpriv --reuid %[1]d --regid %[1]d --clear-groups -- %[2]s "$@"
`, rootlessUID, runumlBin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.rc.Command = wrapper
	return e
}

// chownAll gives dir and everything in it to the rootless user.
func chownAll(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, rootlessUID, rootlessUID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRootless runs containers as an unprivileged user, through go-runc as containerd's shim
// would: the user's files are root's in the guest, output and exit status are right, the
// lifecycle works, what needs host cgroups fails clearly, and nothing is left behind.
func TestRootless(t *testing.T) {
	e := rootlessEnv(t)
	writable := func(s *specs.Spec) { s.Root.Readonly = false }
	b := e.newBundle([]string{"sh", "-c", "id; uname -r; echo hi > /tmp/f; cat /tmp/f"}, writable)
	exit3 := e.newBundle([]string{"sh", "-c", "exit 3"})
	life := e.newBundle([]string{"sleep", "100"})
	ubd := e.newBundle([]string{"sh", "-c", "stat -c '%u:%g' /bin/busybox; echo hi > /tmp/g; cat /tmp/g"}, writable,
		func(s *specs.Spec) { s.Annotations = map[string]string{"org.runuml.rootfs": "ubd"} })
	chownAll(t, e.dir)

	res := e.run("rl1", b, nil)
	lines := strings.Split(string(res.stdout), "\n")
	if res.status != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "uid=0(root) gid=0(root)") ||
		lines[1] != kernelVersion(t) || lines[2] != "hi" || len(res.stderr) != 0 {
		t.Errorf("rootless run: status %d (%v), stdout %q, stderr %q; want 0, root's id, %s, hi",
			res.status, res.err, res.stdout, res.stderr, kernelVersion(t))
	}
	// What the guest's root wrote is the user's on the host.
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(b.Rootfs, "tmp", "f"), &st); err != nil || st.Uid != rootlessUID || st.Gid != rootlessUID {
		t.Errorf("file the guest wrote: %v, owner %d:%d; want %d:%d", err, st.Uid, st.Gid, rootlessUID, rootlessUID)
	}
	if res := e.run("rl2", exit3, nil); res.status != 3 {
		t.Errorf("rootless run of exit 3: status %d (%v); want 3", res.status, res.err)
	}
	// As root of a user namespace already (rootlesskit's, unshare -r's): rootless too, the
	// monitor staying in that namespace.
	cmd := exec.Command("setpriv", "--reuid", fmt.Sprint(rootlessUID), "--regid", fmt.Sprint(rootlessUID), "--clear-groups",
		"--", "unshare", "-r", runumlBin, "--root", e.root, "run", "--bundle", exit3.Dir, "rl5")
	if out, err := cmd.CombinedOutput(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("run of exit 3 under unshare -r: %v, %s; want status 3", err, out)
	}
	// The ubd image is made in the monitor's user namespace: the user's files are root's in it.
	if _, err := exec.LookPath("mkfs.ext4"); err == nil {
		if res := e.run("rl4", ubd, nil); res.status != 0 || string(res.stdout) != "0:0\nhi\n" {
			t.Errorf("rootless run on a ubd rootfs: status %d (%v), stdout %q, stderr %q; want 0:0 and hi",
				res.status, res.err, res.stdout, res.stderr)
		}
	}

	c := e.create("rl3", life)
	if s := e.state("rl3"); s.Status != "created" || s.Pid != c.pid {
		t.Errorf("state after create: %+v; want created, pid %d", s, c.pid)
	}
	// The monitor is the user's, root of a user namespace of its own.
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid))
	if !strings.Contains(string(status), fmt.Sprintf("Uid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d", rootlessUID)) {
		t.Errorf("monitor %d is not uid %d's:\n%s", c.pid, rootlessUID, status)
	}
	if mine, theirs := nsOf(t, os.Getpid(), "user"), nsOf(t, c.pid, "user"); mine == theirs {
		t.Errorf("monitor %d is in the test's user namespace %s", c.pid, mine)
	}
	e.start(c)
	e.waitStatus("rl3", "running")
	out, errOut, code, err := e.execRun("rl3", execProc("sh", "-c",
		"id -u; stat -c '%u:%g' /bin/busybox; ls /sys/class/net; cat /proc/self/uid_map"), nil)
	if want := "0\n0:0\nlo\n         0          0 4294967295\n"; err != nil || code != 0 || out != want {
		t.Errorf("rootless exec: %v, status %d, stdout %q, stderr %q; want %q", err, code, out, errOut, want)
	}
	e.clearLog()
	e.wantErr("pause", e.rc.Pause(e.ctx, "rl3"), "a rootless container has no host cgroups")
	e.clearLog()
	_, err = e.rc.Stats(e.ctx, "rl3")
	e.wantErr("events --stats", err, "a rootless container has no host cgroups")
	if err := e.rc.Kill(e.ctx, "rl3", int(unix.SIGKILL), nil); err != nil {
		t.Fatalf("kill rl3 9: %v", err)
	}
	if s := c.wait(t); s != 137 {
		t.Errorf("killed container exited %d; want 137", s)
	}
	if err := e.rc.Delete(e.ctx, "rl3", nil); err != nil {
		t.Errorf("delete rl3: %v; runtime log: %s", err, e.lastLogError())
	}
	if list, err := e.rc.List(e.ctx); err != nil || len(list) != 0 {
		t.Errorf("list after delete: %v, %v; want none", list, err)
	}
}

// TestRootlessUserNamespace checks a spec's user namespace as runc rootless has it: the
// caller's own uid mapped to the container's root, who then owns the user's files; a mapping
// of ids the user has not got is refused.
func TestRootlessUserNamespace(t *testing.T) {
	e := rootlessEnv(t)
	userns := func(hostID uint32) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 1}}
			s.Linux.GIDMappings = s.Linux.UIDMappings
			// As runc spec --rootless writes it: gid 5 is not mapped.
			for i, m := range s.Mounts {
				if m.Type == "devpts" {
					s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "gid=5" })
				}
			}
		}
	}
	b := e.newBundle([]string{"sh", "-c", "id -u; stat -c '%u:%g' /bin/busybox; cat /proc/self/uid_map"}, userns(rootlessUID))
	bad := e.newBundle([]string{"true"}, userns(100000))
	chownAll(t, e.dir)
	res := e.run("rlu", b, nil)
	if want := "0\n0:0\n         0          0          1\n"; res.status != 0 || string(res.stdout) != want {
		t.Errorf("rootless run with uid %d mapped to 0: status %d (%v), stdout %q, stderr %q; want %q",
			rootlessUID, res.status, res.err, res.stdout, res.stderr, want)
	}
	_, err := e.tryCreate("rlbad", bad)
	e.wantErr("create mapping host uid 100000", err, "only the caller's own id is mapped")
}

// TestRootlessErrors checks what a rootless user is refused, and that it is told why.
func TestRootlessErrors(t *testing.T) {
	e := rootlessEnv(t)
	ns := fmt.Sprintf("runuml-rl-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/var/run/netns/" + ns
			}
		}
	})
	plain := e.newBundle([]string{"true"})
	chownAll(t, e.dir)
	_, err := e.tryCreate("rlnet", b)
	e.wantErr("create with a network namespace path", err, "a rootless runuml cannot join a network namespace by path")

	// A state root the user cannot write.
	cmd := exec.Command("setpriv", "--reuid", fmt.Sprint(rootlessUID), "--regid", fmt.Sprint(rootlessUID), "--clear-groups",
		"--", runumlBin, "--root", "/run/runuml-rl-test", "run", "--bundle", plain.Dir, "rlroot")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set XDG_RUNTIME_DIR or --root") {
		t.Errorf("run with an unwritable --root: %v, %s; want an error naming XDG_RUNTIME_DIR", err, out)
	}
}

// nsOf returns the identity of process pid's namespace of kind (user, net, ...).
func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// kernelVersion is the guest kernel's release, as `runuml --version` names it.
func kernelVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(runumlBin, "--version").Output()
	if err != nil {
		t.Fatalf("runuml --version: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "kernel version: "); ok {
			return v
		}
	}
	t.Fatalf("runuml --version names no kernel version:\n%s", out)
	return ""
}
