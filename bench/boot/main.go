// Command boot benchmarks runuml's guest kernels: boot time (exec -> init,
// exec -> poweroff), syscall costs inside the guest against native, and the
// host -> guest throughput of a serial line (ssl1=fd:3). It compares the
// kernel built by guest/kernel/build.sh (7.x, seccomp mode) with Debian
// bookworm's /usr/bin/linux.uml (6.1, ptrace mode) and prints markdown.
//
// Run as root from the repository root: go run ./bench/boot
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/bench/benchrt"
)

// recommended7 is the default command line tail for the 7.x kernel (on top
// of env.commonArgs, plus lpj=); see guest/kernel/README.md for why.
var recommended7 = []string{"seccomp=on", "quiet"}

// tuned61 is the best known line for Debian's 6.1 kernel (ARCHITECTURE.md),
// plus lpj=.
var tuned61 = []string{"quiet", "loglevel=0", "con=none", "ssl=none",
	"initcall_blacklist=raid6_select_algo,init_zswap", "pty.legacy_count=0"}

func main() {
	kdir := os.Getenv("RUNUML_KERNEL_DIR")
	if kdir == "" {
		kdir = "/usr/local/lib/runuml/kernel"
	}
	k7 := flag.String("kernel", filepath.Join(kdir, "linux"), "7.x UML kernel built by guest/kernel/build.sh")
	k61 := flag.String("kernel61", "/usr/bin/linux.uml", "Debian's 6.1 UML kernel (empty: skip)")
	before := flag.String("before", "", "optional unpatched 7.x kernel for the channel before/after row")
	runs := flag.Int("runs", 20, "boots per boot-time row")
	chanMB := flag.Int("chanmb", 20, "MiB pushed through the channel")
	cpu := flag.Int("cpu", -1, "host CPU the guests are pinned to (default: the last one)")
	extra7 := flag.String("args7", "", "extra parameters for the 7.x rows (space separated)")
	only := flag.String("only", "boot,syscall,chan", "parts to run")
	lpj := flag.Int("lpj", 0, "lpj= for the tuned rows (0: calibrate once per kernel, -1: none)")
	flag.Parse()

	if err := run(*k7, *k61, *before, *runs, *chanMB, *cpu, *lpj, strings.Fields(*extra7), *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench/boot:", err)
		os.Exit(1)
	}
}

func run(k7, k61, before string, runs, chanMB, cpu, lpj int, extra7 []string, only string) error {
	// A guest that aborts leaves a core file of its whole memory otherwise.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	if _, err := os.Stat(k7); err != nil {
		return fmt.Errorf("%w (build it with guest/kernel/build.sh)", err)
	}
	if cpu < 0 {
		cpu = runtime.NumCPU() - 1
	}
	e, cleanup, err := setup(cpu)
	if err != nil {
		return err
	}
	defer cleanup()

	// lpj= skips the delay loop calibration (~40 ms per CPU). Its value only
	// scales udelay(), so it is measured once per kernel and host.
	lpjArg := func(path string) ([]string, error) {
		if lpj < 0 {
			return nil, nil
		}
		n := lpj
		if n == 0 {
			var err error
			if n, err = e.calibrateLPJ(path); err != nil {
				return nil, err
			}
		}
		return []string{"lpj=" + strconv.Itoa(n)}, nil
	}
	lpj7, err := lpjArg(k7)
	if err != nil {
		return err
	}
	seven := slices.Concat(recommended7, lpj7, extra7)
	rows := []kernel{{name: "7.x seccomp=on", path: k7, args: seven}}
	rows = append(rows, kernel{name: "7.x seccomp=on ncpus=2", path: k7, args: slices.Concat(seven, []string{"ncpus=2"})})
	rows = append(rows, kernel{name: "7.x ptrace (seccomp=off)", path: k7, args: slices.Concat([]string{"quiet"}, lpj7, extra7)})
	if k61 != "" {
		lpj61, err := lpjArg(k61)
		if err != nil {
			return err
		}
		rows = append(rows, kernel{name: "6.1 Debian, default params", path: k61})
		rows = append(rows, kernel{name: "6.1 Debian, tuned params", path: k61, args: slices.Concat(tuned61, lpj61)})
	}
	fmt.Printf("Kernel 7.x: %s (%s)\n\n", k7, kernelInfo(k7))
	fmt.Printf("7.x line: %s %s\n\n", strings.Join(e.commonArgs(4), " "), strings.Join(seven, " "))

	if strings.Contains(only, "boot") {
		if err := bootTable(e, rows, runs); err != nil {
			return err
		}
	}
	if strings.Contains(only, "syscall") {
		srows := []kernel{rows[0], rows[1], rows[2]}
		if k61 != "" {
			srows = append(srows, rows[3])
		}
		if err := syscallTable(e, srows); err != nil {
			return err
		}
	}
	if strings.Contains(only, "chan") {
		crows := []kernel{rows[0], rows[1]}
		if before != "" {
			crows = append(crows, kernel{name: "7.x unpatched seccomp=on", path: before, args: seven})
		}
		if k61 != "" {
			crows = append(crows, rows[4])
		}
		if err := chanTable(e, crows, int64(chanMB)<<20); err != nil {
			return err
		}
	}
	return nil
}

// setup makes the hostfs root (static init, busybox as /bin/true, empty
// /dev, /proc and /sys for the guest's own mounts; init's stdio is the kernel's
// /dev/console from its initial rootfs, so no device nodes are needed) and
// the tmpfs directories for UML.
func setup(cpu int) (*env, func(), error) {
	root, err := os.MkdirTemp("", "runuml-bench-root-")
	if err != nil {
		return nil, nil, err
	}
	shm, err := os.MkdirTemp("/dev/shm", "runuml-bench-")
	if err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(root); os.RemoveAll(shm) }
	e := &env{root: root, shm: shm, umlDir: filepath.Join(shm, "uml"), cpu: cpu}
	fail := func(err error) (*env, func(), error) { cleanup(); return nil, nil, err }
	if err := benchrt.Busybox(root, "true"); err != nil {
		return fail(err)
	}
	for _, d := range []string{filepath.Join(root, "tmp"), e.umlDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
	}
	pkg := "./bench/boot/guestinit"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" && bi.Path != "command-line-arguments" {
		pkg = bi.Path + "/guestinit"
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(root, "init"), pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fail(fmt.Errorf("building guestinit: %w", err))
	}
	return e, cleanup, nil
}

// kernelInfo returns the sidecar JSON written by build.sh, if any.
func kernelInfo(path string) string {
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return "no sidecar"
	}
	return strings.TrimSpace(string(b))
}

// bootTable boots every row runs times, interleaved so that drift of the
// machine hits all rows alike, and prints medians.
func bootTable(e *env, rows []kernel, runs int) error {
	ready := make([][]time.Duration, len(rows))
	exit := make([][]time.Duration, len(rows))
	failed := make([]int, len(rows))
	for range runs {
		for i, k := range rows {
			// A failed boot is counted and retried: one flaky run of an old
			// kernel should not void the table. Three in a row end the run.
			for try := 1; ; try++ {
				g, err := e.boot(k, "boot")
				if err == nil {
					var el time.Duration
					if el, err = g.wait(60 * time.Second); err == nil {
						ready[i] = append(ready[i], g.ready)
						exit[i] = append(exit[i], el)
						break
					}
				}
				failed[i]++
				fmt.Fprintf(os.Stderr, "%s: boot failed: %v\n", k.name, err)
				if try == 3 {
					return fmt.Errorf("%s: %w", k.name, err)
				}
			}
		}
	}
	fmt.Printf("## Boot (median of %d, pinned to CPU %d, mem=256M)\n\n", runs, e.cpu)
	fmt.Println("| kernel | exec → init | exec → exit | min exec → exit | failed boots | extra params |")
	fmt.Println("|---|---|---|---|---|---|")
	for i, k := range rows {
		fmt.Printf("| %s | %s | %s | %s | %d | `%s` |\n", k.name, ms(median(ready[i])), ms(median(exit[i])),
			ms(minDur(exit[i])), failed[i], strings.Join(k.args, " "))
	}
	fmt.Println()
	return nil
}
