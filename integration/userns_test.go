package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// userns puts the container in a user namespace of its own, its root being uid and gid 1000
// of the guest (and so of the host's files, which hostfs shows with their host owners).
func userns(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 65536}}
	s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
}

// TestUserNamespace runs a container with uidMappings and gidMappings {0, 1000, 65536}: its
// process sees the mapping, is root of its namespace, writes a volume the host's uid 1000
// owns, and an exec'd process joins the same user namespace.
func TestUserNamespace(t *testing.T) {
	e := newEnv(t)
	data := filepath.Join(e.dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	script := `cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c 'mnt %u:%g' /mnt
stat -c 'busybox %u:%g' /bin/busybox
echo hi > /mnt/f && stat -c 'f %u:%g' /mnt/f
echo again >> /mnt/f && echo appended
mkdir /mnt/d && stat -c 'd %u:%g' /mnt/d
touch /root/x 2>/dev/null || echo 'rootfs not writable'
[ -e /sys/kernel ] && echo 'sysfs'
[ -e /sys/fs/cgroup/pids.max ] && [ ! -e /sys/fs/cgroup/container ] && echo 'own cgroup'
echo null > /dev/null && stat -c 'null %t:%T' /dev/null
echo done; exec sleep 100`
	b := e.newBundle([]string{"sh", "-c", script}, userns, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: data,
			Options: []string{"rbind", "rw"}})
	})
	c := e.create("uns", b)
	e.start(c)
	if !c.stdout.waitFor("done\n", waitTimeout) {
		t.Fatalf("no output: %q, stderr %q, log %s", c.stdout.String(), c.stderr.String(), e.lastLogError())
	}
	lines := strings.Split(strings.TrimSuffix(c.stdout.String(), "\n"), "\n")
	// The rootfs is host root's, which the namespace does not map: nobody's. What the
	// container makes in the volume is its root's (guest kernel patch 0009).
	want := []string{"0 1000 65536", "0 1000 65536", "0", "0", "mnt 0:0", "busybox 65534:65534",
		"f 0:0", "appended", "d 0:0", "rootfs not writable", "sysfs", "own cgroup", "null 1:3", "done"}
	if len(lines) != len(want) {
		t.Fatalf("container output %q, want %d lines like %q (the guest kernel needs patch 0009: make kernel)", lines, len(want), want)
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != w {
			t.Errorf("container line %d: %q, want %q", i, got, w)
		}
	}
	// What the host sees: the mapped ids.
	for _, name := range []string{"f", "d"} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Errorf("the container's %s: %v", name, err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("the container's %s is %d:%d on the host, want 1000:1000 (is the guest kernel built with patch 0009? make kernel)",
				name, st.Uid, st.Gid)
		}
	}

	p := execProc("sh", "-c", `cat /proc/self/uid_map; id -u; [ "$(readlink /proc/self/ns/user)" = "$(readlink /proc/1/ns/user)" ] && echo same; echo hi > /mnt/g && echo wrote`)
	out, errOut, status, err := e.execRun("uns", p, nil)
	if got := strings.Join(strings.Fields(out), " "); err != nil || status != 0 || got != "0 1000 65536 0 same wrote" {
		t.Errorf("exec: err %v, status %d, stdout %q, stderr %q; want the mapping, uid 0, the same user namespace, a write", err, status, out, errOut)
	}
	p.User = specs.User{UID: 1000, GID: 1000}
	p.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}
	out, errOut, status, err = e.execRun("uns", p, nil)
	if got := strings.Join(strings.Fields(out), " "); err != nil || status != 0 || got != "1000 0 1000 65536" {
		t.Errorf("exec as 1000: err %v, status %d, stdout %q, stderr %q", err, status, out, errOut)
	}
	e.rc.Kill(e.ctx, "uns", 9, nil)
	c.wait(t)
	if err := e.rc.Delete(e.ctx, "uns", &runc.DeleteOpts{Force: true}); err != nil {
		t.Error(err)
	}
}

// TestUserNamespaceCgroupNamespace runs a container with a user and a cgroup namespace, as
// runuml spec writes one plus mappings: its cgroup mount (a bind of its own group, since the
// kernel refuses cgroup2 there) and /proc/self/cgroup show its group as the root.
func TestUserNamespaceCgroupNamespace(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh", "-c", `cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max; [ -e /sys/fs/cgroup/container ] || echo own; id -u`},
		userns, func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
			limit := int64(50)
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
		})
	res := e.run("unscg", b, nil)
	// The devices line: the default spec has device rules (see TestDeviceRules).
	if want := "1:devices:/\n0::/\n50\nown\n0\n"; string(res.stdout) != want || res.status != 0 {
		t.Errorf("stdout %q, stderr %q, status %d; want %q", res.stdout, res.stderr, res.status, want)
	}
}
