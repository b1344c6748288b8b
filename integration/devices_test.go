package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDeviceRules checks linux.resources.devices in the guest: under docker's rules (deny all,
// mknod allowed) a container root may still mknod, but not open a device outside the allowed ones (the
// guest's /dev/kmsg, c 1:11, made in the container's /dev), while the default devices work; an allow rule for writing
// opens it for writing only; an exec'd process is bound the same way; and without rules the
// device is open to root, as under runc. The host's devices group of the kernel has the
// container's rules and the kernel's and monitor's own devices.
func TestDeviceRules(t *testing.T) {
	e := newEnv(t)
	script := `mknod /dev/kmsg2 c 1 11 && echo mknod; echo hi > /dev/kmsg2 && echo write; ` +
		`head -c 8 /dev/kmsg2 >/dev/null && echo read; head -c 3 /dev/zero | wc -c; echo done > /dev/null && echo null`
	minor, major := int64(11), int64(1)
	denyAll := dockerDefault
	noRules := func(s *specs.Spec) {
		dockerDefault(s)
		s.Linux.Resources.Devices = nil
	}
	for _, tc := range []struct {
		name  string
		edit  func(*specs.Spec)
		want  string
		error bool
	}{
		{"none", noRules, "mknod\nwrite\nread\n3\nnull\n", false},
		{"deny", denyAll, "mknod\n3\nnull\n", true},
		{"allow-write", func(s *specs.Spec) {
			denyAll(s)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "w"})
		}, "mknod\nwrite\n3\nnull\n", true},
	} {
		res := e.run("dev-"+tc.name, e.newBundle([]string{"sh", "-c", script}, tc.edit), nil)
		denied := strings.Contains(string(res.stderr), "Operation not permitted")
		if string(res.stdout) != tc.want || denied != tc.error {
			t.Errorf("%s: stdout %q, stderr %q; want %q, EPERM on stderr %v", tc.name, res.stdout, res.stderr, tc.want, tc.error)
		}
	}

	c := e.create("devx", e.newBundle([]string{"sleep", "100"}, denyAll))
	e.start(c)
	out, errOut, _, err := e.execRun("devx", execProc("sh", "-c", `mknod /dev/k c 1 11; echo hi > /dev/k || echo denied`), nil)
	if err != nil || out != "denied\n" || !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("exec: err %v, stdout %q, stderr %q; want \"denied\" and EPERM", err, out, errOut)
	}
	if dirs, _ := filepath.Glob("/sys/fs/cgroup/devices/runuml/devx-*"); len(dirs) == 1 {
		list, err := os.ReadFile(filepath.Join(dirs[0], "devices.list"))
		if want := "c *:* m\nb *:* m\nc 1:3 rwm\nc 5:2 rwm\nc 136:* rwm\n"; err != nil || string(list) != want {
			t.Errorf("host devices group %s: devices.list %q (%v), want %q", dirs[0], list, err, want)
		}
	} else if _, err := os.Stat("/sys/fs/cgroup/devices"); err == nil {
		t.Errorf("host devices group: found %v, want one", dirs)
	}
	e.cli("delete", "--force", "devx")
}
