package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMaskedReadonlyPaths runs with runc's default masked and read-only paths (the guest
// kernel has no /proc/kcore; /proc/keys and /proc/timer_list stand for it) plus a file and a
// directory of the image: masked files read empty, masked directories are empty and
// read-only, and /proc/sys refuses a write.
func TestMaskedReadonlyPaths(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh", "-c", `for p in /proc/keys /proc/timer_list /etc/secret; do echo "$p $(wc -c < $p)"; done
ls -A /root /sys/firmware | grep -v : | grep . ; touch /root/new
echo x > /proc/sys/kernel/domainname; echo x > /proc/sysrq-trigger; cat /etc/passwd | wc -l`},
		func(s *specs.Spec) {
			s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/root", "/no/such/path")
			s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/no/such/path")
		})
	b.writeFile(e, "etc/secret", "secret\n", 0o644)
	b.writeFile(e, "root/file", "file\n", 0o644)
	res := e.run("paths", b, nil)
	want := "/proc/keys 0\n/proc/timer_list 0\n/etc/secret 0\n1\n"
	stderr := string(res.stderr)
	for _, w := range []string{"touch: /root/new: Read-only file system",
		"can't create /proc/sys/kernel/domainname: Read-only file system",
		"can't create /proc/sysrq-trigger: Read-only file system"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not say %q", stderr, w)
		}
	}
	if string(res.stdout) != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
}

// TestOOMScoreAdjSysctl checks process.oomScoreAdj (the container's, and an exec'd
// process's own or else the container's) and linux.sysctl, written before /proc/sys is made
// read-only; an unknown sysctl fails create.
func TestOOMScoreAdjSysctl(t *testing.T) {
	e := newEnv(t)
	adj := 300
	c := e.create("oom", e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Process.OOMScoreAdj = &adj
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1234567", "net.ipv4.ip_forward": "1",
			"kernel/msgmax": "4096"}
	}))
	e.start(c)
	out, errOut, status, err := e.execRun("oom", execProc("cat", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj",
		"/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/msgmax"), nil)
	if want := "300\n300\n1234567\n1\n4096\n"; err != nil || status != 0 || out != want {
		t.Errorf("exec: err %v, status %d, stdout %q, stderr %q; want %q", err, status, out, errOut, want)
	}
	p := execProc("cat", "/proc/self/oom_score_adj")
	own := -100
	p.OOMScoreAdj = &own
	if out, errOut, status, err := e.execRun("oom", p, nil); err != nil || status != 0 || out != "-100\n" {
		t.Errorf("exec with its own oomScoreAdj: err %v, status %d, stdout %q, stderr %q; want -100", err, status, out, errOut)
	}
	e.rc.Kill(e.ctx, "oom", 9, nil)
	c.wait(t)
	if err := e.rc.Delete(e.ctx, "oom", nil); err != nil {
		t.Errorf("delete: %v", err)
	}

	b := e.newBundle([]string{"true"}, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.nosuch": "1"} })
	if _, err := e.tryCreate("badsysctl", b); err == nil || !strings.Contains(err.Error(), "sysctl kernel.nosuch") {
		t.Errorf("create with an unknown sysctl: %v; want it refused", err)
	}
}
