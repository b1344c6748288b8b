package benchrt

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Bench is one run of a benchmark: its work dir and what it made there, undone by Cleanup.
type Bench struct {
	Work string // the work dir, /tmp/runuml-bench-NAME-*
	Note string // from CrunNamespace, for the report; "" when nothing was needed

	mu   sync.Mutex
	rts  []*Runtime
	undo []func()
	once sync.Once
}

// Start begins a run of bench/NAME as root. When runtimes (comma-separated) names crun it
// first re-runs itself in a private mount namespace (CrunNamespace; the re-run's env is
// RUNUML_BENCH_NAME_NS). It turns off core files, which an aborting UML guest would leave of
// its whole memory, makes the work dir, and arranges that SIGINT, SIGTERM and SIGHUP run
// Cleanup and exit 1. The caller defers Cleanup.
func Start(name, runtimes string) (*Bench, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("run as root")
	}
	note, err := CrunNamespace(runtimes, "RUNUML_BENCH_"+strings.ToUpper(name)+"_NS")
	if err != nil {
		return nil, err
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "runuml-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	b := &Bench{Work: work, Note: note}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench/%s: %v, cleaning up\n", name, s)
		b.Cleanup()
		os.Exit(1)
	}()
	return b, nil
}

// OnCleanup adds f to what Cleanup undoes, after the runtimes' containers and before the
// work dir.
func (b *Bench) OnCleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.undo = append(b.undo, f)
}

// Cleanup removes everything the run made, once, also when called again or from the signal
// handler: the containers of every runtime first (a detached one outlives us otherwise),
// then what OnCleanup added, in order, then the work dir.
func (b *Bench) Cleanup() {
	b.once.Do(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, rt := range b.rts {
			rt.Cleanup()
		}
		for _, f := range b.undo {
			f()
		}
		os.RemoveAll(b.Work)
	})
}

// NewRuntime is NewRuntime in the work dir, cleaned up by Cleanup.
func (b *Bench) NewRuntime(name, bin string) (*Runtime, error) {
	rt, err := newRuntime(name, bin, b.Work)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rts = append(b.rts, rt)
	return rt, nil
}

// Runtimes builds runuml into the work dir's bin and returns the runtimes named in list,
// comma-separated and in its order: runuml, which must come first, and others found in PATH.
// A kernel other than "" is the guest kernel runuml uses (RUNUML_KERNEL, which its monitor
// inherits).
func (b *Bench) Runtimes(list, kernel string) ([]*Runtime, error) {
	fmt.Fprintln(os.Stderr, "building runuml ...")
	runuml, err := BuildRunuml(filepath.Join(b.Work, "bin"))
	if err != nil {
		return nil, err
	}
	if kernel != "" {
		os.Setenv("RUNUML_KERNEL", kernel)
	}
	var rts []*Runtime
	for _, name := range strings.Split(list, ",") {
		bin := runuml
		if name != "runuml" {
			if bin, err = exec.LookPath(name); err != nil {
				return nil, err
			}
		}
		rt, err := b.NewRuntime(name, bin)
		if err != nil {
			return nil, err
		}
		rts = append(rts, rt)
	}
	if len(rts) == 0 || rts[0].Name != "runuml" {
		return nil, fmt.Errorf("-runtimes must start with runuml")
	}
	return rts, nil
}
