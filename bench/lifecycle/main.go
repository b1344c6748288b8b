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
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	bench, err := benchrt.Start("lifecycle", c.runtimes)
	if err != nil {
		return err
	}
	defer bench.Cleanup()
	rts, err := bench.Runtimes(c.runtimes, c.kernel)
	if err != nil {
		return err
	}
	work := bench.Work
	b, err := benchrt.NewBundle(filepath.Join(work, "bundle"))
	if err != nil {
		return err
	}

	rep := report{cfg: c, note: bench.Note, rts: rts}
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
