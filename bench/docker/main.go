// Command docker benchmarks `docker run --rm IMAGE true` with runtime uml (runuml) next to
// runc, against a dockerd and containerd of its own (integration/dockerd, as the integration
// suite runs them) on docker's default bridge network. Runs alternate between the runtimes.
// It prints markdown.
//
// Run as root from the repository root after `make build`: go run ./bench/docker
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/runuml/runuml/bench/benchrt"
	"github.com/runuml/runuml/integration/dockerd"
)

const image = "runuml-bench-busybox:latest"

func main() {
	runs := flag.Int("runs", 20, "timed runs per runtime")
	warmup := flag.Int("warmup", 2, "untimed runs per runtime first")
	runuml := flag.String("runuml", "bin/runuml", "runuml binary (runuml-init beside it)")
	flag.Parse()
	if err := bench(*runs, *warmup, *runuml); err != nil {
		fmt.Fprintln(os.Stderr, "bench/docker:", err)
		os.Exit(1)
	}
}

func bench(runs, warmup int, runuml string) error {
	b, err := benchrt.Start("docker", "")
	if err != nil {
		return err
	}
	defer b.Cleanup()
	bin, err := filepath.Abs(runuml)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (make build)", err)
	}
	d, err := dockerd.Start(dockerd.Options{Runuml: bin, Data: filepath.Join(b.Work, "daemons")})
	if err != nil {
		return err
	}
	b.OnCleanup(d.Stop)
	if _, err := d.ImportBusybox(image); err != nil {
		return err
	}
	rts := []string{"uml", "runc"}
	times := map[string][]time.Duration{}
	for i := 0; i < warmup+runs; i++ {
		for _, rt := range rts {
			start := time.Now()
			if _, stderr, err := d.Docker(nil, "run", "--rm", "--runtime="+rt, image, "true"); err != nil {
				return fmt.Errorf("docker run --runtime=%s: %v: %s", rt, err, stderr)
			}
			if i >= warmup {
				times[rt] = append(times[rt], time.Since(start))
			}
		}
	}
	report(d, bin, runs, warmup, rts, times)
	return nil
}

func report(d *dockerd.Daemons, bin string, runs, warmup int, rts []string, times map[string][]time.Duration) {
	fmt.Println("# runuml docker benchmark")
	fmt.Println()
	fmt.Println("- machine: " + benchrt.Machine())
	fmt.Printf("- %s\n- runuml: %s\n- runc: %s\n", benchrt.Version("/usr/sbin/dockerd"), benchrt.Version(bin), benchrt.Version("runc"))
	fmt.Println("- image: busybox-static (`docker import`), default bridge network, dockerd and containerd of the benchmark's own")
	fmt.Println()
	fmt.Printf("## `docker run --rm IMAGE true` (%d runs each after %d warm-up, alternating)\n\n", runs, warmup)
	fmt.Println("| runtime | median | p10 | p90 | min | max | this / runc (median) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	base := median(times["runc"])
	for _, rt := range rts {
		t := times[rt]
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %.2fx |\n", rt, ms(median(t)), ms(pct(t, 0.1)), ms(pct(t, 0.9)),
			ms(slices.Min(t)), ms(slices.Max(t)), float64(median(t))/float64(base))
	}
	verdict := "met"
	if ratio := float64(median(times["uml"])) / float64(base); ratio > 1.5 {
		verdict = "NOT met"
	}
	fmt.Printf("\nTarget, uml at most 1.5x runc: %s.\n", verdict)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

func median(d []time.Duration) time.Duration { return pct(d, 0.5) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
