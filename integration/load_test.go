package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// loadRunsEnv sets how many containers TestSequentialRunsLeaveNothing runs one after the
// other; `make load` runs the 500.
const loadRunsEnv = "RUNUML_LOAD_RUNS"

// Bounds for the load tests: 50 guests booting at once on 2 busy cores take far longer than
// one does, so these are much more generous than callTimeout and waitTimeout.
const (
	loadCallTimeout = 10 * time.Minute
	loadWaitTimeout = 5 * time.Minute
)

// loadEnv is newEnv with a longer bound on all of the test's runtime calls together.
func loadEnv(t *testing.T, timeout time.Duration) *env {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	e.ctx = ctx
	return e
}

// sharedBundles makes n bundles that share one busybox rootfs (read-only, as `runc spec`
// has it), each with its own config.json edited by edit(i, spec).
func (e *env) sharedBundles(n int, args []string, edit func(int, *specs.Spec)) []*bundle {
	e.t.Helper()
	first := e.newBundle(args)
	out := make([]*bundle, n)
	for i := range out {
		dir := filepath.Join(e.dir, fmt.Sprintf("load%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		b := &bundle{Dir: dir, Rootfs: first.Rootfs, Spec: runcSpec(args)}
		b.Spec.Root.Path = first.Rootfs // absolute: the bundle has no rootfs of its own
		edit(i, b.Spec)
		b.save(e)
		out[i] = b
	}
	return out
}

// TestFiftyAtOnce runs 50 containers at the same time on this 2-core machine, each with its
// own hostname and number, started concurrently through go-runc as containerd starts them.
// Each waits for a line on stdin, sent only once `list` shows all 50 running, then prints its
// hostname and a value computed from its number. Every one must print exactly its own line
// and exit 0.
func TestFiftyAtOnce(t *testing.T) {
	const n = 50
	e := loadEnv(t, loadCallTimeout)
	bundles := e.sharedBundles(n, []string{"sh", "-c", `read go && echo "$(hostname) $((N * N + 7))"`},
		func(i int, s *specs.Spec) {
			s.Hostname = fmt.Sprintf("load-%d", i)
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("N=%d", i))
		})
	start := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(start) }) }
	defer release() // lets the stdin feeders go if the test fails early
	results := make([]result, n)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, b := range bundles {
		wg.Go(func() {
			results[i] = e.run(fmt.Sprintf("c%d", i), b, gated{start, strings.NewReader("go\n")})
		})
	}
	e.waitAllRunning(n, loadWaitTimeout)
	up := time.Since(t0)
	release()
	wg.Wait()
	t.Logf("%d containers: all running after %v, all exited after %v", n, up.Round(time.Millisecond),
		time.Since(t0).Round(time.Millisecond))
	for i, res := range results {
		want := fmt.Sprintf("load-%d %d\n", i, i*i+7)
		if string(res.stdout) != want || len(res.stderr) != 0 || res.status != 0 {
			t.Errorf("c%d: stdout %q, stderr %q, status %d (%v); want %q, none, 0",
				i, res.stdout, res.stderr, res.status, res.err, want)
		}
	}
}

// waitAllRunning waits until `list` shows n containers, all running, each with a pid of its
// own (the monitor's).
func (e *env) waitAllRunning(n int, timeout time.Duration) {
	e.t.Helper()
	var last string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := e.rc.List(e.ctx)
		pids := map[int]bool{}
		count := map[string]int{}
		for _, c := range list {
			count[c.Status]++
			if c.Status == "running" && c.Pid > 0 {
				pids[c.Pid] = true
			}
		}
		if len(list) == n && len(pids) == n {
			return
		}
		last = fmt.Sprintf("%d listed, by status %v, %d distinct pids (err %v)", len(list), count, len(pids), err)
	}
	e.t.Fatalf("never saw %d containers running within %v; last: %s", n, timeout, last)
}

// TestSequentialRunsLeaveNothing runs containers one after the other with `runuml run` (500 in
// `make load`; $RUNUML_LOAD_RUNS, default 100 in the suite), each printing its own number, and
// checks that the host holds exactly what it held before: no process, mount, cgroup, state
// dir, UML memory file or umid dir, tap or vector device left by any of them.
func TestSequentialRunsLeaveNothing(t *testing.T) {
	runs := 100
	if s := os.Getenv(loadRunsEnv); s != "" {
		var err error
		if runs, err = strconv.Atoi(s); err != nil || runs < 1 {
			t.Fatalf("$%s=%q: want a positive number", loadRunsEnv, s)
		}
	}
	// A run takes 0.1-0.6 s on 2 busy cores; allow 2 s each.
	e := loadEnv(t, max(loadCallTimeout, time.Duration(runs)*2*time.Second))
	b := e.newBundle([]string{"sh", "-c", `echo "run $I $((I * 3))"`})
	// The probes must see a live container, or finding nothing after the runs proves nothing.
	c := e.create("probe", b)
	for _, kind := range []string{"process", "state dir", "cgroup"} {
		if live := e.hostTraces(); len(live.kinds[kind]) == 0 {
			t.Errorf("a created container shows no %s: the leak check cannot see it", kind)
		}
	}
	if err := e.rc.Delete(e.ctx, c.id, &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatalf("delete %s: %v", c.id, err)
	}
	c.wait(t)
	before := e.hostTraces()
	var times []time.Duration
	for i := range runs {
		b.Spec.Process.Env = append(runcSpec(nil).Process.Env, fmt.Sprintf("I=%d", i))
		b.save(e)
		t0 := time.Now()
		res := e.run(fmt.Sprintf("s%d", i), b, nil)
		times = append(times, time.Since(t0))
		want := fmt.Sprintf("run %d %d\n", i, i*3)
		if string(res.stdout) != want || len(res.stderr) != 0 || res.status != 0 {
			t.Fatalf("run %d: stdout %q, stderr %q, status %d (%v); want %q, none, 0; runtime log: %s",
				i, res.stdout, res.stderr, res.status, res.err, want, e.lastLogError())
		}
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	var total time.Duration
	for _, d := range times {
		total += d
	}
	t.Logf("%d sequential runs in %v: median %v, p90 %v, max %v", runs, total.Round(time.Millisecond),
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)*9/10].Round(time.Millisecond),
		sorted[len(sorted)-1].Round(time.Millisecond))
	// Exits are asynchronous (a monitor's last cleanup may trail `run`'s exit): give them a moment.
	var (
		diff  []string
		after traces
	)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		after = e.hostTraces()
		if diff = before.diff(after); len(diff) == 0 {
			break
		}
	}
	if len(diff) != 0 {
		t.Errorf("after %d runs the host holds what it did not before:\n  %s", runs, strings.Join(diff, "\n  "))
	}
	t.Logf("before: %s", before.summary())
	t.Logf("after:  %s", after.summary())
}
