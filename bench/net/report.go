package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

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
	var u unix.Utsname
	unix.Uname(&u)
	fmt.Println("# runuml network benchmark")
	fmt.Println()
	fmt.Printf("- machine: %d CPUs (nproc), host kernel %s, %s, load average %s before, %s after\n", runtime.NumCPU(),
		unix.ByteSliceToString(u.Release[:]), time.Now().UTC().Format(time.RFC3339), r.load[0], r.load[len(r.load)-1])
	seen := map[string]bool{}
	for _, rt := range r.rts {
		if seen[rt.Bin] {
			continue
		}
		seen[rt.Bin] = true
		out, _ := exec.Command(rt.Bin, "--version").CombinedOutput()
		v := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n", "; ")), " ")
		fmt.Printf("- %s: %s\n", rt.Name, strings.TrimSuffix(v, ";"))
	}
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
	fmt.Println("## Failed attempts (retried with a fresh container, not in the numbers above)")
	fmt.Println()
	for _, rt := range r.rts {
		fmt.Printf("- %s: %d\n", rt.Name, len(rt.Fails))
		for _, f := range rt.Fails {
			fmt.Printf("  - `%s`\n", strings.ReplaceAll(f, "`", "'"))
		}
	}
	fmt.Println()
}
