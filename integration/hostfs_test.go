package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The top of a guest's jail: its staged files, mount points and the kernel's libraries.
var jailTop = []string{".", "..", "dev", "lib", "lib64", "proc", "rootfs", "runuml", "sys", "tmp", "usr", "volumes"}

// hostMarker creates a file with a unique name and content in each host dir and returns
// its name and content; the guest must never see either.
func hostMarker(t *testing.T, dirs ...string) (name, content string) {
	b := make([]byte, 8)
	rand.Read(b)
	name = "runuml-it-marker-" + hex.EncodeToString(b)
	content = "HOST MARKER " + name + "\n"
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
	}
	return name, content
}

// TestHostfsConfinement mounts hostfs as the container's root user would, with host paths
// that escaped a plain hostfs=DIR, and checks that only the jail shows: never a host file.
func TestHostfsConfinement(t *testing.T) {
	requireGuests(t)
	marker, _ := hostMarker(t, "/", "/tmp")
	for _, tc := range []struct {
		opt  string
		want []string // the listing must be a subset; nil: only the marker is checked
	}{
		{"/", jailTop},
		{"/../../..", jailTop},
		{"//..", jailTop},
		{"/rootfs/../../..", jailTop},
		{"/tmp/../../..", jailTop},
		{"/proc", []string{".", ".."}}, // no host /proc: no way to /proc/PID/root
		{"/tmp", nil},                  // the jail's private tmpfs, not host /tmp
	} {
		t.Run(tc.opt, func(t *testing.T) {
			e := newEnv(t)
			b := e.newBundle([]string{"sh", "-c", "mount -t hostfs none /mnt -o " + tc.opt + " && ls -a /mnt"}, privileged)
			res := e.run("hostfs", b, nil)
			if res.status != 0 || len(res.stderr) != 0 {
				t.Fatalf("mount -o %s: status %d, stderr %q; want it mounted", tc.opt, res.status, res.stderr)
			}
			entries := strings.Fields(string(res.stdout))
			for _, name := range entries {
				if name == marker || (tc.want != nil && !slices.Contains(tc.want, name)) {
					t.Errorf("mount -o %s shows %q, which is not the jail's; listing: %q", tc.opt, name, entries)
				}
			}
		})
	}
}

// TestHostfsSymlinks checks that symlinks in the rootfs pointing out of it resolve inside
// the guest, through the container's root and through a raw hostfs mount alike.
func TestHostfsSymlinks(t *testing.T) {
	e := newEnv(t)
	marker, content := hostMarker(t, "/", "/tmp")
	b := e.newBundle([]string{"sh", "-c", `
cat /escape
cat /up/etc/hostname
cat /marker-link /tmp-marker-link 2>/dev/null || echo no marker
mount -t hostfs none /mnt -o / && cat /mnt/rootfs/escape /mnt/rootfs/up/etc/hostname
cat /mnt/rootfs/marker-link 2>/dev/null || echo no marker`}, privileged)
	b.writeFile(e, "etc/hostname", "in-container\n", 0o644)
	for link, target := range map[string]string{
		"escape":          "/etc/hostname", // the host's, if resolved on the host
		"up":              "../../../../../../..",
		"marker-link":     "/" + marker,
		"tmp-marker-link": "/tmp/" + marker,
	} {
		if err := os.Symlink(target, filepath.Join(b.Rootfs, link)); err != nil {
			t.Fatal(err)
		}
	}
	res := e.run("links", b, nil)
	want := "in-container\nin-container\nno marker\nin-container\nin-container\nno marker\n"
	if string(res.stdout) != want || res.status != 0 || strings.Contains(string(res.stderr), content) {
		t.Errorf("symlinks out of the rootfs: stdout %q, stderr %q, status %d; want %q, 0",
			res.stdout, res.stderr, res.status, want)
	}
}

// TestHostfsWrites checks that writes through hostfs land in the jail, whatever path the
// guest names, never in host /tmp or /.
func TestHostfsWrites(t *testing.T) {
	e := newEnv(t)
	name, _ := hostMarker(t) // a fresh name only
	var script strings.Builder
	for _, opt := range []string{"/tmp", "/../../tmp", "/tmp/../../../tmp", "/rootfs/../../../tmp"} {
		script.WriteString("mount -t hostfs none /mnt -o " + opt + " && echo x > /mnt/" + name + " && echo wrote; umount /mnt\n")
	}
	res := e.run("writes", e.newBundle([]string{"sh", "-c", script.String()}, privileged), nil)
	if want := strings.Repeat("wrote\n", 4); string(res.stdout) != want || res.status != 0 {
		t.Errorf("writes through hostfs: stdout %q, stderr %q, status %d; want %q, 0", res.stdout, res.stderr, res.status, want)
	}
	for _, p := range []string{filepath.Join("/tmp", name), filepath.Join("/", name)} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("the guest created %s on the host", p)
		}
	}
}

// privileged gives the container's process CAP_SYS_ADMIN (docker run --privileged), so it
// can mount hostfs: the jail must hold even then.
func privileged(s *specs.Spec) {
	c := s.Process.Capabilities
	c.Bounding = append(c.Bounding, "CAP_SYS_ADMIN")
	c.Effective = append(c.Effective, "CAP_SYS_ADMIN")
	c.Permitted = append(c.Permitted, "CAP_SYS_ADMIN")
}

// TestCapabilities checks that the process gets the spec's capabilities, as under runc:
// with `runc spec`'s three, root in the container cannot mount anything.
func TestCapabilities(t *testing.T) {
	e := newEnv(t)
	res := e.run("caps", e.newBundle([]string{"sh", "-c",
		`grep -E "^Cap(Prm|Eff|Bnd)" /proc/self/status; mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo mount refused`}), nil)
	// CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29), as runc shows them.
	want := "CapPrm:\t0000000020000420\nCapEff:\t0000000020000420\nCapBnd:\t0000000020000420\nmount refused\n"
	if string(res.stdout) != want || res.status != 0 {
		t.Errorf("capabilities: stdout %q, status %d; want %q, 0", res.stdout, res.status, want)
	}
}

// TestKernelConfined checks the host side of a guest: the kernel process keeps only the
// capabilities hostfs and the network devices need, in a user namespace of its own, and runs
// with no_new_privs and a seccomp filter, so root with
// every capability in the guest cannot make a device node in the rootfs on the host. (A
// device node already there is the guest kernel's own device, never the host's: hostfs
// makes it a special inode of the guest.)
func TestKernelConfined(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh", "-c", `mknod /null2 c 1 3 && echo made; echo done; sleep 100`},
		privileged, func(s *specs.Spec) {
			s.Root.Readonly = false
			all := []string{"CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER"}
			c := s.Process.Capabilities
			c.Bounding, c.Effective, c.Permitted = append(c.Bounding, all...), append(c.Effective, all...), append(c.Permitted, all...)
		})
	c := e.create("confined", b)
	e.start(c)
	// CAP_CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, FOWNER 3, FSETID 4, NET_RAW 13.
	if got := kernelStatus(t, c.pid, "CapBnd"); got != "000000000000201f" {
		t.Errorf("guest kernel CapBnd %s, want 000000000000201f", got)
	}
	if got := kernelStatus(t, c.pid, "NoNewPrivs"); got != "1" {
		t.Errorf("guest kernel NoNewPrivs %s, want 1", got)
	}
	if got := kernelStatus(t, c.pid, "Seccomp"); got != "2" {
		t.Errorf("guest kernel Seccomp %s, want 2 (a filter)", got)
	}
	// A user namespace of its own, every id mapped to itself.
	proc := kernelProc(t, c.pid)
	for _, m := range []string{"uid_map", "gid_map"} {
		data, err := os.ReadFile(proc + "/" + m)
		if got := strings.Fields(string(data)); err != nil || !slices.Equal(got, []string{"0", "0", "4294967295"}) {
			t.Errorf("guest kernel %s %q (%v), want 0 0 4294967295", m, data, err)
		}
	}
	if !ownUserns(t, c.pid) {
		t.Errorf("the guest kernel runs in the host's user namespace, want one of its own")
	}
	if !c.stdout.waitFor("done\n", waitTimeout) {
		t.Fatalf("no output: %q", c.stdout.String())
	}
	if out := c.stdout.String(); out != "done\n" {
		t.Errorf("mknod in the rootfs: %q, want it refused", out)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "null2")); err == nil {
		t.Errorf("the guest made a device node in the rootfs on the host")
	}
	if err := e.rc.Delete(e.ctx, "confined", &runc.DeleteOpts{Force: true}); err != nil {
		t.Error(err)
	}
	c.wait(t)
}

// TestHostfsNewFileOwner checks who owns on the host what a guest user makes in a volume: the
// user (guest kernel patch 0009), as under runc, not the UML process (host root); under a
// setgid directory the directory's group.
func TestHostfsNewFileOwner(t *testing.T) {
	e := newEnv(t)
	vol := filepath.Join(e.dir, "vol")
	if err := os.MkdirAll(filepath.Join(vol, "sg"), 0o777); err != nil {
		t.Fatal(err)
	}
	for dir, mode := range map[string]os.FileMode{vol: 0o777, filepath.Join(vol, "sg"): 0o777 | os.ModeSetgid} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(vol, "sg"), 0, 5); err != nil {
		t.Fatal(err)
	}
	b := e.newBundle([]string{"sh", "-c", `cd /mnt && echo x > f && mkdir d && ln -s f l && echo y > sg/f && echo made`},
		func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1001}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}})
		})
	res := e.run("owner", b, nil)
	if string(res.stdout) != "made\n" || res.status != 0 {
		t.Fatalf("stdout %q, stderr %q, status %d", res.stdout, res.stderr, res.status)
	}
	for name, want := range map[string][2]uint32{"f": {1000, 1001}, "d": {1000, 1001}, "l": {1000, 1001},
		"sg/f": {1000, 5}} {
		fi, err := os.Lstat(filepath.Join(vol, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s is %d:%d on the host, want %d:%d (is the guest kernel built with patch 0009? make kernel)",
				name, st.Uid, st.Gid, want[0], want[1])
		}
	}
}

// TestKernelFilter checks the host seccomp filter of the kernel process from inside a real
// jail: a kernel the container has taken over (testdata/hostilekernel stands in for it, run
// as the guest kernel through org.runuml.kernel) makes host syscalls UML never makes, and
// each is refused. Without the filter every one of them works in the jail; the file handle
// one would open the host filesystem's root outside the jail (the kernel keeps
// CAP_DAC_READ_SEARCH for hostfs).
func TestKernelFilter(t *testing.T) {
	e := newEnv(t)
	kernel := filepath.Join(suiteDir, "bin", "hostilekernel")
	build := exec.Command("go", "build", "-o", kernel, "./testdata/hostilekernel")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hostile kernel: %v\n%s", err, out)
	}
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.runuml.kernel": kernel}
	})
	_, err := e.tryCreate("hostile", b)
	if err == nil {
		t.Fatal("create with the hostile kernel succeeded")
	}
	// getpid is 1: the kernel is init of the jail's pid namespace.
	want := `getpid: 1
uname: ok
socket inet: operation not permitted
socket netlink: operation not permitted
socket packet: operation not permitted
mknod fifo: operation not permitted
inotify_init1: operation not permitted
name_to_handle_at: operation not permitted
open_by_handle_at: operation not permitted`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("the hostile kernel's syscalls: %v; want the kernel log to say\n%s", err, want)
	}
	e.wantNoContainer("hostile")
}
