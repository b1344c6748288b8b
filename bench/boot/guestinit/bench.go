package main

import (
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Result holds per-operation medians in nanoseconds.
type Result struct {
	GetppidNs  float64 `json:"getppidNs"`
	ForkWaitNs float64 `json:"forkWaitNs"`
	ForkExecNs float64 `json:"forkExecNs"`
	CPUs       int     `json:"cpus"`
	Err        string  `json:"err,omitempty"`
}

// runSyscallBench times getppid, fork+wait and fork+exec of truePath. Each
// figure is the median over batches of the batch time per operation: in a
// UML guest clock_gettime is a full syscall (no vDSO), so single operations
// are not timed one by one.
func runSyscallBench(truePath string) Result {
	r := Result{CPUs: runtime.NumCPU()}
	r.GetppidNs = medianPerOp(15, 2000, func() error { unix.Getppid(); return nil })
	var err error
	r.ForkWaitNs = medianPerOp(11, 10, func() error {
		if e := forkWait(); e != nil {
			err = e
		}
		return err
	})
	if err == nil {
		ex, e := newExecer(truePath)
		if e != nil {
			err = e
		} else {
			r.ForkExecNs = medianPerOp(11, 10, func() error {
				if e := ex.run(); e != nil {
					err = e
				}
				return err
			})
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// medianPerOp runs op in batches and returns the median time per call.
func medianPerOp(batches, per int, op func() error) float64 {
	op() // warm up (page faults, caches)
	res := make([]float64, 0, batches)
	for range batches {
		start := time.Now()
		for range per {
			if op() != nil {
				return 0
			}
		}
		res = append(res, float64(time.Since(start).Nanoseconds())/float64(per))
	}
	slices.Sort(res)
	return res[len(res)/2]
}

// forkWait is a real fork (a copy of the address space, as fork(2) in C
// does), not the vfork that os/exec uses: the child only makes raw syscalls
// and exits at once, which is safe in a Go program.
func forkWait() error {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	if pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return wait(int(pid))
}

// execer holds the execve arguments prepared before fork, so the child does
// not allocate.
type execer struct {
	path *byte
	argv []*byte
	envv []*byte
}

func newExecer(path string) (*execer, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return nil, err
	}
	argv, err := syscall.SlicePtrFromStrings([]string{path})
	if err != nil {
		return nil, err
	}
	return &execer{path: p, argv: argv, envv: []*byte{nil}}, nil
}

// run forks, execs the program in the child and waits for it.
func (e *execer) run() error {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	if pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(e.path)),
			uintptr(unsafe.Pointer(&e.argv[0])), uintptr(unsafe.Pointer(&e.envv[0])))
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
	return wait(int(pid))
}

func wait(pid int) error {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return syscall.ECHILD
		}
		return nil
	}
}
