package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/runuml/runuml/bench/benchrt"
)

// report collects every part's results and prints them as markdown.
type report struct {
	cfg  config
	note string
	rts  []*benchrt.Runtime
	lat  []latencyResult
	ph   []phases
	tp   []tput
	mem  []memResult
}

func (r *report) print() {
	r.machine()
	if r.lat != nil {
		r.latency()
	}
	if r.ph != nil {
		r.phases()
	}
	if r.tp != nil {
		r.throughput()
	}
	if r.mem != nil {
		r.memory()
	}
	benchrt.PrintFailures(r.rts)
}

func (r *report) machine() {
	fmt.Println("# runuml lifecycle benchmark")
	fmt.Println()
	fmt.Println("- machine: " + benchrt.Machine())
	benchrt.PrintVersions(r.rts)
	fmt.Println("- bundle: busybox-static rootfs, `runc spec` config.json (terminal false), shared by all runtimes")
	if r.note != "" {
		fmt.Println("- " + r.note)
	}
	fmt.Println()
}

func (r *report) latency() {
	fmt.Printf("## `run` of `true`, end to end (%d runs each after %d warm-up, interleaved)\n\n", r.cfg.runs, r.cfg.warmup)
	fmt.Println("| runtime | median | p10 | p90 | min | max | runuml / this (median) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	base := r.lat[0].times.median()
	for _, l := range r.lat {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", l.rt.Name, ms(l.times.median()), ms(l.times.pct(0.1)),
			ms(l.times.pct(0.9)), ms(slices.Min(l.times)), ms(slices.Max(l.times)), ratio(base, l.times.median()))
	}
	verdict := "met"
	if base > 150*time.Millisecond {
		verdict = "NOT met"
	}
	fmt.Printf("\nTarget for runuml, median ≤ 150 ms: %s (%s).\n\n", verdict, ms(base))
}

func (r *report) phases() {
	fmt.Printf("## Phases of one lifecycle of `true` (median of %d, interleaved)\n\n", r.cfg.phaseRuns)
	fmt.Println("start → exit waits for the pid-file process: runuml's monitor (exits once the guest is down), " +
		"runc's and crun's container process.")
	fmt.Println()
	fmt.Println("| runtime | create | start | start → exit | delete | sum |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range r.ph {
		c, s, e, d := p.create.median(), p.start.median(), p.exit.median(), p.delet.median()
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", p.rt.Name, ms(c), ms(s), ms(e), ms(d), ms(c+e+d))
	}
	fmt.Println()
}

func (r *report) throughput() {
	fmt.Printf("## stdio throughput, %d MiB (median of %d, interleaved)\n\n", r.cfg.mib, r.cfg.tputRuns)
	fmt.Println("End-to-end MB/s (10^6 B/s) of the whole `run`: container start and teardown are included, " +
		"so the rate of a fast path is bounded by the runtime's start time.")
	fmt.Println()
	fmt.Println("| runtime | stdin → `wc -c` | wall | stdout `head -c` → host | wall | bytes right | runuml / this (in, out) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	in0, out0 := benchrt.Median(r.tp[0].in), benchrt.Median(r.tp[0].out)
	for _, t := range r.tp {
		ok := "yes"
		if !t.inOK || !t.outOK {
			ok = fmt.Sprintf("NO (in %v, out %v)", t.inOK, t.outOK)
		}
		fmt.Printf("| %s | %.0f MB/s | %s | %.0f MB/s | %s | %s | %.2f×, %.2f× |\n", t.rt.Name, benchrt.Median(t.in), ms(t.inT.median()),
			benchrt.Median(t.out), ms(t.outT.median()), ok, in0/benchrt.Median(t.in), out0/benchrt.Median(t.out))
	}
	fmt.Println()
}

func (r *report) memory() {
	fmt.Printf("## Host memory of idle containers (`run -d` of `sleep 1000`, read after %v, median of %d)\n\n", r.cfg.settle, r.cfg.memRuns)
	fmt.Println("PSS (smaps_rollup) summed over each pid-file process and all its descendants; " +
		"for runuml that includes the guest RAM the kernel has touched (its memory file, shmem). " +
		"Pages shared by several containers (the binaries' text) are divided among them, so the " +
		"cost per container falls as more run. Target for runuml: at most 20 MiB per idle container.")
	fmt.Println()
	fmt.Println("| runtime | containers | PSS total | per container | per container, runs' range | anon / file / shmem per container | processes | runuml / this |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	base := map[int]pssSum{}
	for _, m := range r.mem {
		if m.rt == r.rts[0] {
			base[m.n] = m.median()
		}
	}
	for _, m := range r.mem {
		v, n := m.median(), float64(m.n)
		lo, hi := m.spread()
		fmt.Printf("| %s | %d | %s | %s | %.1f–%s | %s / %s / %s | %d | %.1f× |\n", m.rt.Name, m.n, mib(float64(v.total)),
			mib(float64(v.total)/n), float64(lo)/n/1024, mib(float64(hi)/n), mib(float64(v.anon)/n), mib(float64(v.file)/n),
			mib(float64(v.shmem)/n), m.procs, float64(base[m.n].total)/float64(v.total))
	}
	fmt.Println()
	for _, m := range r.mem {
		if m.rt == r.rts[0] {
			verdict := "met"
			if per := float64(m.median().total) / float64(m.n); per > 20*1024 {
				verdict = "NOT met"
			}
			fmt.Printf("- runuml, %d idle: %s per container, target ≤ 20 MiB %s\n", m.n, mib(float64(m.median().total)/float64(m.n)), verdict)
		}
	}
	fmt.Println()
}

// mib formats kB as MiB.
func mib(kb float64) string { return fmt.Sprintf("%.1f MiB", kb/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}
