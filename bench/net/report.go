package main

import (
	"fmt"
	"slices"

	"github.com/runuml/runuml/bench/benchrt"
)

// target is the goal for runuml, Gbit/s each way.
const target = 4.0

// report prints the results as markdown.
type report struct {
	cfg  config
	note string
	rts  []*ociRuntime
	res  []result
	load []string // load averages before and after
}

func (r *report) print() {
	rts := make([]*benchrt.Runtime, len(r.rts))
	for i, rt := range r.rts {
		rts[i] = rt.Runtime
	}
	fmt.Println("# runuml network benchmark")
	fmt.Println()
	fmt.Printf("- machine: %s, load average %s before, %s after\n", benchrt.Machine(), r.load[0], r.load[len(r.load)-1])
	benchrt.PrintVersions(rts)
	fmt.Println("- network: a namespace from `ip netns add` per container, a veth pair to the host, " +
		"named in config.json; runuml hands the namespace's eth0 to its guest (netplug)")
	fmt.Printf("- traffic: one TCP connection, the client's writes and reads 1 MiB, the server's reads %d bytes, "+
		"for the given seconds; `tcpbench serve` in the container (static Go, busybox rootfs), the tcpbench client "+
		"on the host; rate counted at the client\n", serverRead)
	if r.note != "" {
		fmt.Println("- " + r.note)
	}
	fmt.Println()
	fmt.Printf("## TCP throughput, Gbit/s (10^9 bit/s), median of %d containers, %gs each way, interleaved\n\n", r.cfg.runs, r.cfg.seconds)
	fmt.Println("| runtime | host → container | min–max | container → host | min–max | this / runc (in, out) |")
	fmt.Println("|---|---|---|---|---|---|")
	var base *result
	for i := range r.res {
		if r.res[i].rt.Name == "runc" {
			base = &r.res[i]
		}
	}
	for _, res := range r.res {
		rel := "-"
		if base != nil {
			rel = fmt.Sprintf("%.2f×, %.2f×", benchrt.Median(res.in)/benchrt.Median(base.in), benchrt.Median(res.out)/benchrt.Median(base.out))
		}
		fmt.Printf("| %s | %.2f | %.2f–%.2f | %.2f | %.2f–%.2f | %s |\n", res.rt.Name, benchrt.Median(res.in), slices.Min(res.in),
			slices.Max(res.in), benchrt.Median(res.out), slices.Min(res.out), slices.Max(res.out), rel)
	}
	in, out := benchrt.Median(r.res[0].in), benchrt.Median(r.res[0].out)
	verdict := "met"
	if in < target || out < target {
		verdict = "NOT met"
	}
	fmt.Printf("\nTarget for runuml, ≥ %.0f Gbit/s each way: %s (%.2f in, %.2f out).\n\n", target, verdict, in, out)
	benchrt.PrintFailures(rts)
}
