package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestPidsLimitInGuest checks that linux.resources.pids.limit is enforced by the guest
// kernel: the container's group (its cgroup namespace's root) has the limit, the container's
// init and exec'd processes count against it, and a shell that starts sleeps in a loop gets
// "can't fork" once the group is full.
func TestPidsLimitInGuest(t *testing.T) {
	e := newEnv(t)
	limit := int64(10)
	c := e.create("pids", e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}))
	e.start(c)

	// init and the exec'd cat: 2.
	out, errOut, status, err := e.execRun("pids", execProc("cat",
		"/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids.current", "/proc/self/cgroup"), nil)
	// The guest's devices group (linux.resources.devices) shows as a v1 line before the v2 one.
	if want := "10\n2\n1:devices:/\n0::/\n"; err != nil || status != 0 || out != want {
		t.Errorf("exec cat pids.max pids.current /proc/self/cgroup: err %v, status %d, stdout %q, stderr %q; want %q",
			err, status, out, errOut, want)
	}

	// init and the shell hold 2 of the 10: the shell starts 8 sleeps, then cannot fork. The
	// sleeps leave stdout and stderr, or exec would wait for them to close.
	loop := `n=0; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do sleep 100 >/dev/null 2>&1 & n=$((n+1)); echo $n; done`
	out, errOut, status, err = e.execRun("pids", execProc("sh", "-c", loop), nil)
	lines := strings.Fields(out)
	last := ""
	if len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	if err != nil || status == 0 || last != "8" || !strings.Contains(errOut, "can't fork") {
		t.Errorf("fork loop under pids limit 10: err %v, status %d, started %q, stderr %q; want a failure after 8 sleeps saying \"can't fork\"",
			err, status, last, errOut)
	}
	e.cli("delete", "--force", "pids")
}
