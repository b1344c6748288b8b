// Command net benchmarks TCP throughput between the host and a container, host → container
// and container → host, for runuml against runc and crun. Every container gets the same
// network: a namespace made with `ip netns add`, a veth pair whose host end is 10.98.N.1/24
// and whose eth0 inside is 10.98.N.2/24, named in the spec as the container's network
// namespace (as integration/network_test.go does). The container runs `tcpbench serve`
// (bench/net/tcpbench, static, copied into a busybox rootfs); the host runs the tcpbench
// client against it. It prints markdown.
//
// Run as root from the repository root: go run ./bench/net
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runuml/runuml/bench/benchrt"
)

type config struct {
	runs     int
	seconds  float64
	runtimes string
	variants string
	kernel   string
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 5, "containers per runtime, each measured once each way")
	flag.Float64Var(&c.seconds, "seconds", 4, "seconds of each transfer")
	flag.StringVar(&c.runtimes, "runtimes", "runuml,runc,crun", "runtimes to compare (runuml first)")
	flag.StringVar(&c.variants, "variants", "", "extra runuml rows, `;`-separated, each a ,-separated list of "+
		"annotations with org.runuml.net. left off (a key with a dot is taken as is; sysctl.NAME=V sets "+
		"the guest sysctl NAME instead): \"gro=false;depth=256;sysctl.net.ipv4.tcp_rmem=4096 1048576 4194304\"")
	flag.StringVar(&c.kernel, "kernel", "", "guest kernel for runuml (default: runuml's own choice)")
	flag.IntVar(&serverRead, "server-read", serverRead, "bytes per read() of the server in the container, host → container")
	flag.Parse()
	if err := main1(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench/net:", err)
		os.Exit(1)
	}
}

func main1(c config) error {
	bench, err := benchrt.Start("net", c.runtimes)
	if err != nil {
		return err
	}
	defer bench.Cleanup()
	base, err := bench.Runtimes(c.runtimes, c.kernel)
	if err != nil {
		return err
	}
	work := bench.Work
	fmt.Fprintln(os.Stderr, "building tcpbench ...")
	b, err := makeBundle(filepath.Join(work, "bundle"))
	if err != nil {
		return err
	}
	// The runuml variants come right after runuml.
	rts := []*ociRuntime{{Runtime: base[0]}}
	if c.variants != "" {
		for _, v := range strings.Split(c.variants, ";") {
			rt, err := bench.NewRuntime("runuml "+v, base[0].Bin)
			if err != nil {
				return err
			}
			rts = append(rts, &ociRuntime{rt, annotations(v)})
		}
	}
	for _, rt := range base[1:] {
		rts = append(rts, &ociRuntime{Runtime: rt})
	}
	rep := report{cfg: c, note: bench.Note, rts: rts, load: []string{loadavg()}}
	fmt.Fprintf(os.Stderr, "throughput: %d containers per runtime, %gs each way ...\n", c.runs, c.seconds)
	d := time.Duration(c.seconds * float64(time.Second))
	res := make([]result, len(rts))
	for round := range c.runs {
		for i, rt := range rts {
			res[i].rt = rt
			err := rt.Attempt(func() error {
				ns, err := newNetns(round*len(rts) + i)
				// Removed again below; this is for a failure or an interrupt in between.
				bench.OnCleanup(func() { ns.remove() })
				if err != nil {
					return err
				}
				in, out, err := measure(b, rt, ns, d, work)
				if rerr := ns.remove(); err == nil {
					err = rerr
				}
				if err != nil {
					return err
				}
				res[i].in, res[i].out = append(res[i].in, in), append(res[i].out, out)
				fmt.Fprintf(os.Stderr, "  %s: in %.2f Gbit/s, out %.2f Gbit/s\n", rt.Name, in, out)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	rep.res = res
	rep.load = append(rep.load, loadavg())
	rep.print()
	return nil
}

// annotations turns "gro=false,depth=256" into runuml's network annotations.
func annotations(v string) map[string]string {
	a := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		if !strings.Contains(k, ".") {
			k = "org.runuml.net." + k
		}
		a[k] = val
	}
	return a
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
