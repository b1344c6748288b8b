package integration

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestTenAtOnce runs 10 containers at the same time, each from its own bundle with its own
// hostname and a file of its own, and checks that each sees only its own. The containers
// wait for a line on stdin, sent only once all 10 are running, so they truly overlap.
func TestTenAtOnce(t *testing.T) {
	const n = 10
	e := newEnv(t)
	bundles := make([]*bundle, n)
	for i := range bundles {
		bundles[i] = e.newBundle([]string{"sh", "-c", "read go; hostname; cat /whoami; ls /whoami*"},
			func(s *specs.Spec) { s.Hostname = fmt.Sprintf("guest-%d", i) })
		bundles[i].writeFile(e, "whoami", fmt.Sprintf("container %d\n", i), 0o644)
	}
	start := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(start) }) }
	defer release() // lets the stdin feeders go if the test fails early
	results := make([]result, n)
	var wg sync.WaitGroup
	for i, b := range bundles {
		wg.Go(func() {
			results[i] = e.run(fmt.Sprintf("c%d", i), b, gated{start, strings.NewReader("go\n")})
		})
	}
	e.waitRunning(n)
	release()
	wg.Wait()
	for i, res := range results {
		want := fmt.Sprintf("guest-%d\ncontainer %d\n/whoami\n", i, i)
		if string(res.stdout) != want || len(res.stderr) != 0 || res.status != 0 {
			t.Errorf("c%d: stdout %q, stderr %q, status %d (%v); want %q, none, 0",
				i, res.stdout, res.stderr, res.status, res.err, want)
		}
	}
}

// gated yields data only once start is closed.
type gated struct {
	start <-chan struct{}
	r     io.Reader
}

func (g gated) Read(p []byte) (int, error) {
	<-g.start
	return g.r.Read(p)
}

// waitRunning waits until list shows n running containers.
func (e *env) waitRunning(n int) {
	e.t.Helper()
	var list []*runc.Container
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, _ = e.rc.List(e.ctx)
		running := 0
		for _, c := range list {
			if c.Status == "running" {
				running++
			}
		}
		if running == n {
			return
		}
	}
	e.t.Fatalf("never saw %d containers running; last list: %v", n, list)
}

// TestConcurrentCreatesSpread creates containers at the same time, as `docker compose up`
// does, and checks that their guests are spread over the host's CPUs: each guest is pinned
// to one CPU (it runs several times faster so), and piling them on one leaves the others idle.
func TestConcurrentCreatesSpread(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil || allowed.Count() < 2 {
		t.Skip("needs at least 2 usable CPUs")
	}
	e := newEnv(t)
	n := 2 * allowed.Count()
	b := e.newBundle([]string{"sleep", "100"})
	ctrs := make([]*ctr, n)
	var wg sync.WaitGroup
	for i := range ctrs {
		wg.Go(func() {
			var err error
			if ctrs[i], err = e.tryCreate(fmt.Sprintf("c%d", i), b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	perCPU := map[string]int{}
	for _, c := range ctrs {
		if c == nil {
			continue
		}
		perCPU[guestCPUs(t, c.pid)]++
		if err := e.rc.Delete(e.ctx, c.id, nil); err != nil {
			t.Errorf("delete %s: %v", c.id, err)
		}
		c.wait(t)
	}
	if len(perCPU) != allowed.Count() {
		t.Errorf("%d guests created at once are pinned to CPUs %v (guests per CPU list); want them spread over all %d CPUs",
			n, perCPU, allowed.Count())
	}
}

// guestCPUs returns the CPUs the guest kernel of the monitor pid may run on, as the host
// shows them.
func guestCPUs(t *testing.T, monitor int) string {
	t.Helper()
	return kernelStatus(t, monitor, "Cpus_allowed_list")
}

// kernelStatus returns a field of /proc/PID/status of the guest kernel of the monitor pid,
// the monitor's child.
func kernelStatus(t *testing.T, monitor int, field string) string {
	t.Helper()
	status, err := os.ReadFile(kernelProc(t, monitor) + "/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in the guest kernel's status (%v)", field, err)
	return ""
}

// ownUserns reports whether the guest kernel under monitor runs in a user namespace other
// than the host's (this test's).
func ownUserns(t *testing.T, monitor int) bool {
	t.Helper()
	kns, err1 := os.Readlink(kernelProc(t, monitor) + "/ns/user")
	hns, err2 := os.Readlink("/proc/self/ns/user")
	if err1 != nil || err2 != nil {
		t.Fatalf("user namespaces: %v, %v", err1, err2)
	}
	return kns != hns
}

// kernelProc returns the /proc directory of the guest kernel process under monitor.
func kernelProc(t *testing.T, monitor int) string {
	t.Helper()
	// The guest was forked by one of the monitor's threads: look at each one's children.
	threads, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", monitor))
	for _, tid := range threads {
		list, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", monitor, tid.Name()))
		for _, child := range strings.Fields(string(list)) {
			if _, err := os.Stat("/proc/" + child + "/status"); err == nil {
				return "/proc/" + child
			}
		}
	}
	t.Fatalf("no guest kernel under monitor %d (%v)", monitor, err)
	return ""
}

// TestGuestCPUs: the org.runuml.cpus annotation gives the guest that many CPUs, and its kernel
// may run on every host CPU instead of one; a number the host cannot give is refused.
func TestGuestCPUs(t *testing.T) {
	e := newEnv(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 host CPUs")
	}
	c := e.create("smp", e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.runuml.cpus": "2"}
	}))
	e.start(c)
	out, _, status, err := e.execRun("smp", execProc("nproc"), nil)
	if err != nil || status != 0 || out != "2\n" {
		t.Errorf("nproc in a 2-CPU guest: %q, status %d, %v", out, status, err)
	}
	if got, want := guestCPUs(t, c.pid), fmt.Sprintf("0-%d", runtime.NumCPU()-1); got != want {
		t.Errorf("2-CPU guest kernel may run on CPUs %s, want %s", got, want)
	}
	if err := e.rc.Delete(e.ctx, "smp", &runc.DeleteOpts{Force: true}); err != nil {
		t.Error(err)
	}
	c.wait(t)
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.runuml.cpus": "1000"}
	})
	e.cliFails("org.runuml.cpus", "create", "--bundle", b.Dir, "toomany")
}
