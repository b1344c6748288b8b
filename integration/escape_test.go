package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Escape attempts by root in a container that holds every capability in its guest, as
// `docker run --privileged` gives: it can mount, mknod and write the guest's /proc. The
// hostfs ones are in hostfs_test.go (TestHostfsConfinement, TestHostfsSymlinks,
// TestHostfsWrites). None may reach a host file outside the container's rootfs and volumes,
// crash the monitor, or have a status it fakes reported as its own.

// TestEscapeProc looks for the host through the guest's /proc: the roots and mount tables
// of every process it can see, and a fresh proc mount. Neither a host marker file (in /,
// /tmp and the bundle's directory, outside the rootfs) nor the host path of the bundle
// may show.
func TestEscapeProc(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh", "-c", `
for p in /proc/1/root /proc/self/root/.. /proc/self/root/../.. /proc/1/cwd/../../.. /proc/self/root/proc/1/root; do
	ls -a $p
	cat $p/$MARKER $p/tmp/$MARKER $p/../$MARKER
done
cat /proc/*/mountinfo /proc/*/mounts
mount -t proc proc /mnt && cat /mnt/*/mountinfo && ls -a /mnt/*/root/ && cat /mnt/*/root/$MARKER
umount /mnt
find / -xdev -name "$MARKER"
mount -t hostfs none /mnt -o / && ls -a /mnt/proc /mnt/proc/1 && cat /mnt/proc/1/root/$MARKER
true`}, allCaps)
	marker, content := hostMarker(t, "/", "/tmp", e.dir)
	b.Spec.Process.Env = append(b.Spec.Process.Env, "MARKER="+marker)
	b.save(e)
	res := e.run("proc", b, nil)
	out := string(res.stdout) + string(res.stderr)
	if res.status != 0 || !strings.Contains(out, "/rootfs / ") {
		t.Fatalf("status %d, output %q; want the probes run (status 0) and the guest's own mount table", res.status, out)
	}
	if strings.Contains(out, content) {
		t.Errorf("the guest read a host marker file through /proc:\n%s", out)
	}
	if strings.Contains(out, suiteDir) {
		t.Errorf("the guest's /proc shows the host path %s:\n%s", suiteDir, out)
	}
}

// TestEscapeJailFiles tries to change, through hostfs, the host files the jail shares with
// the guest: the kernel, the agent, the kernel's libraries, the guest's config and the
// host's /dev/null and /dev/urandom. Every attempt must fail with EROFS. The changes tried
// are no-ops (chmod to the same mode, chown to root, an empty append), so a hole harms
// nothing; until the jail bound /dev/null read-only, guest root could chmod it on the host.
func TestEscapeJailFiles(t *testing.T) {
	e := newEnv(t)
	null, _ := os.Stat("/dev/null")
	res := e.run("jailfiles", e.newBundle([]string{"sh", "-c", `
mount -t hostfs none /mnt -o / || exit 1
for f in /mnt/runuml/* /mnt/dev/* $(find /mnt/lib /mnt/lib64 /mnt/usr -type f 2>/dev/null); do
	chmod $(stat -c %a $f) $f 2>/dev/null && echo "changed mode of $f"
	chown 0:0 $f 2>/dev/null && echo "changed owner of $f"
	[ -f $f ] && printf "" 2>/dev/null >> $f && echo "opened $f for writing"
	echo "tried $f"
done
mkdir /mnt/new 2>/dev/null && echo "made a directory in the jail"
true`}, allCaps), nil)
	out := string(res.stdout)
	for _, want := range []string{"/mnt/runuml/linux", "/mnt/runuml/init", "/mnt/runuml/config.json", "/mnt/dev/null", "/mnt/dev/random"} {
		if !strings.Contains(out, "tried "+want+"\n") {
			t.Errorf("%s was not tried; status %d, output %q, stderr %q", want, res.status, out, res.stderr)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, "tried ") {
			t.Errorf("guest root %s", line)
		}
	}
	if after, _ := os.Stat("/dev/null"); after.Mode() != null.Mode() {
		t.Errorf("host /dev/null mode %v, was %v", after.Mode(), null.Mode())
	}
}

// TestEscapeExitcode: the container writes /proc/exitcode, the status the UML process will
// exit with; the status reported is still the one the agent saw.
func TestEscapeExitcode(t *testing.T) {
	e := newEnv(t)
	res := e.run("exitcode", e.newBundle([]string{"sh", "-c", "echo 0 > /proc/exitcode && echo faked; exit 3"}, allCaps), nil)
	if string(res.stdout) != "faked\n" || res.status != 3 {
		t.Errorf("exit 3 after writing 0 to /proc/exitcode: stdout %q, status %d; want %q, 3", res.stdout, res.status, "faked\n")
	}
	// Killed from the host after faking 0: SIGKILL's 137.
	c := e.create("killed", e.newBundle([]string{"sh", "-c", "echo 0 > /proc/exitcode && echo faked; sleep 100"}, allCaps))
	e.start(c)
	if !c.stdout.waitFor("faked\n", waitTimeout) {
		t.Fatalf("the container did not write /proc/exitcode; stdout %q", c.stdout.String())
	}
	e.killAndDelete(c, 137)
}

// forgedExit is an Exit frame with status 0, as the agent would send it on the line.
const forgedExit = `\014\0\0\0\0\0\0\0\014{"status":0}`

// TestEscapeControlLine has the container open the guest's end of the control line
// (/dev/ttyS1, made with mknod) to forge frames or flood it, and the console too.
func TestEscapeControlLine(t *testing.T) {
	requireGuests(t)
	// With docker's default capabilities and device rules the line cannot be opened (its
	// device is not among the allowed ones); with a rule that allows it (docker's
	// --device-cgroup-rule) it still cannot (the agent holds it exclusive, and opening it
	// exclusively again needs CAP_SYS_ADMIN): a forged Exit never reaches the monitor.
	forge := "mknod /dev/ttyS1 c 4 65 && printf '" + forgedExit + "' > /dev/ttyS1 && echo forged; echo done; exit 7"
	ttyRule := func(s *specs.Spec) {
		dockerDefault(s)
		major := int64(4)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Access: "rwm"})
	}
	for _, tc := range []struct {
		name, why string
		edit      func(*specs.Spec)
	}{
		{"forge as docker's default", "Operation not permitted", dockerDefault},
		{"forge with the tty's device allowed", "busy", ttyRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.run("forge", e.newBundle([]string{"sh", "-c", forge}, tc.edit), nil)
			if string(res.stdout) != "done\n" || res.status != 7 || !strings.Contains(string(res.stderr), tc.why) {
				t.Errorf("forged Exit: stdout %q, stderr %q, status %d; want %q, %q, 7", res.stdout, res.stderr, res.status, "done\n", tc.why)
			}
		})
	}
	// A privileged container passes the exclusive lock; its garbage breaks the line. The
	// monitor survives, stops trusting the line and, once the guest is gone, reports 255,
	// the status of a guest that did not report one.
	t.Run("flood as privileged", func(t *testing.T) {
		e := newEnv(t)
		c := e.create("flood", e.newBundle([]string{"sh", "-c", `
for d in "ttyS1 c 4 65" "ttyS0 c 4 64" "tty0 c 4 0" "console c 5 1"; do mknod /dev/$d; done
head -c 3000000 /dev/zero | tr '\0' x > /dev/console
head -c 4096 /dev/zero | tr '\0' '\377' > /dev/ttyS1
head -c 4096 /dev/urandom > /dev/ttyS0
echo written; exit 7`}, allCaps))
		began := time.Now()
		e.start(c)
		if status := c.wait(t); status != 255 {
			t.Errorf("flooded line: monitor exited %d after %v, want 255", status, time.Since(began).Round(time.Millisecond))
		}
		if st := e.state("flood"); st.Status != "stopped" {
			t.Errorf("state after the flood: %q, want stopped", st.Status)
		}
		if msg := e.lastLogError(); !strings.Contains(msg, "guest ended without reporting an exit status") {
			t.Errorf("runtime log says %q; want why the status is 255", msg)
		}
		// The console's 3 MB reached the kernel log on the host, which keeps at most 2 MiB.
		var logged int64
		for _, name := range []string{"kernel.log", "kernel.log.1"} {
			if fi, err := os.Stat(filepath.Join(e.root, "flood", name)); err == nil {
				logged += fi.Size()
			}
		}
		if logged < 1<<20 || logged > 2<<20 {
			t.Errorf("the kernel logs hold %d bytes after a 3 MB console flood; want 1-2 MiB", logged)
		}
		if err := e.rc.Delete(e.ctx, "flood", nil); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
}

// allCaps gives the container's process every capability and every device, without masked
// or read-only paths in /proc, as `docker run --privileged` does.
func allCaps(s *specs.Spec) {
	var all []string
	for c := 0; c <= int(unix.CAP_LAST_CAP); c++ {
		all = append(all, capName[c])
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	s.Process.NoNewPrivileges = false
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
}

// dockerDefault gives the container docker's default capabilities and device rules: mknod
// of any device, reading and writing none but the standard ones.
func dockerDefault(s *specs.Spec) {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "b", Access: "m"}}
}

// capName names the capabilities by number, as the spec spells them.
var capName = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
