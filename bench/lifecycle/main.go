// Command lifecycle benchmarks runuml against runc and crun on one busybox bundle: the
// end-to-end time of `run` of `true` (and its create/start/exit/delete phases), stdio
// throughput through a container in both directions, and the host memory of an idle
// container. It prints markdown.
//
// Run as root from the repository root: go run ./bench/lifecycle
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/bench/benchrt"
)

type config struct {
	runs, warmup, phaseRuns, tputRuns, memRuns int
	mib                                        int64
	settle                                     time.Duration
	runtimes, only, kernel, memCounts          string
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 20, "timed `run` of `true` per runtime")
	flag.IntVar(&c.warmup, "warmup", 2, "untimed runs per runtime first")
	flag.IntVar(&c.phaseRuns, "phase-runs", 10, "create/start/delete lifecycles per runtime")
	flag.Int64Var(&c.mib, "mib", 100, "MiB piped through stdin and stdout")
	flag.IntVar(&c.tputRuns, "tput-runs", 3, "throughput runs per runtime and direction")
	flag.IntVar(&c.memRuns, "mem-runs", 3, "measurements per runtime and count of idle containers")
	flag.StringVar(&c.memCounts, "mem-counts", "1,10,50", "how many idle containers run at once, comma-separated")
	flag.DurationVar(&c.settle, "settle", 30*time.Second, "wait before reading an idle container's memory: past the monitor's page-out (2 s after create) and what faults back after it")
	flag.StringVar(&c.runtimes, "runtimes", "runuml,runc,crun", "runtimes to compare (runuml first)")
	flag.StringVar(&c.only, "only", "latency,phases,throughput,memory", "parts to run")
	flag.StringVar(&c.kernel, "kernel", "", "guest kernel for runuml (default: runuml's own choice)")
	flag.Parse()
	if err := main1(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lifecycle:", err)
		os.Exit(1)
	}
}

func main1(c config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root")
	}
	// Environment variable marking the re-executed benchmark inside its own mount namespace.
	note, err := benchrt.CrunNamespace(c.runtimes, "RUNUML_BENCH_LIFECYCLE_NS")
	if err != nil {
		return err
	}
	// An aborting UML guest would leave a core file of its whole memory.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "runuml-bench-lifecycle-")
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		rts  []*ociRuntime
		once sync.Once
	)
	// Everything we made goes, also when interrupted: containers first (a detached one
	// outlives us otherwise), then the work dir.
	cleanup := func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, rt := range rts {
				rt.Cleanup()
			}
			os.RemoveAll(work)
		})
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench/lifecycle: %v, cleaning up\n", s)
		cleanup()
		os.Exit(1)
	}()

	fmt.Fprintln(os.Stderr, "building runuml ...")
	runuml, err := benchrt.BuildRunuml(filepath.Join(work, "bin"))
	if err != nil {
		return err
	}
	if c.kernel != "" {
		os.Setenv("RUNUML_KERNEL", c.kernel) // runuml's --kernel, also for its monitor
	}
	b, err := makeBundle(filepath.Join(work, "bundle"))
	if err != nil {
		return err
	}
	for _, name := range strings.Split(c.runtimes, ",") {
		bin := runuml
		if name != "runuml" {
			if bin, err = exec.LookPath(name); err != nil {
				return err
			}
		}
		rt, err := newRuntime(name, bin, work)
		if err != nil {
			return err
		}
		mu.Lock()
		rts = append(rts, rt)
		mu.Unlock()
	}
	if len(rts) == 0 || rts[0].Name != "runuml" {
		return fmt.Errorf("-runtimes must start with runuml")
	}

	rep := report{cfg: c, note: note, rts: rts}
	if strings.Contains(c.only, "latency") {
		fmt.Fprintln(os.Stderr, "latency: run of true ...")
		if rep.lat, err = measureLatency(b, rts, c.runs, c.warmup); err != nil {
			return err
		}
	}
	if strings.Contains(c.only, "phases") {
		fmt.Fprintln(os.Stderr, "phases: create, start, exit, delete ...")
		if rep.ph, err = measurePhases(b, rts, c.phaseRuns, work); err != nil {
			return err
		}
	}
	if strings.Contains(c.only, "throughput") {
		fmt.Fprintf(os.Stderr, "throughput: %d MiB each way ...\n", c.mib)
		if rep.tp, err = measureThroughput(b, rts, c.mib<<20, c.tputRuns); err != nil {
			return err
		}
	}
	if strings.Contains(c.only, "memory") {
		counts, err := parseCounts(c.memCounts)
		if err != nil {
			return err
		}
		if rep.mem, err = measureMemory(b, rts, counts, c.memRuns, c.settle, work); err != nil {
			return err
		}
	}
	rep.print()
	return nil
}

// parseCounts parses "1,10,50".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-mem-counts %q: want positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}
