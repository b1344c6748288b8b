package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
)

// process is a process the agent runs for the host: the container's init, set up by a
// stage-2 child in the container's namespaces that waits for the start word, then execs.
type process struct {
	w      *proto.Writer
	id     uint32
	pid    int
	sync   *os.File // our end of the socketpair with the stage-2 child
	stdin  *stdinQueue
	output sync.WaitGroup // the stdout and stderr pumps
	pidNS  string         // the container's pid namespace, for signals to all its processes
	ttyFD  int            // the terminal's master for stdin and resizes; -1 without one
	tty    *os.File       // ttyFD as a file, closed by closeTTY
}

// Setup and start words on the stage-2 socketpair.
const (
	wordReady = "ready"
	wordStart = "start"
)

// createContainer starts the stage-2 child in the container's namespaces and waits until it
// is ready to exec the container's process. The agent places the child in the container's
// cgroup and sets its OOM score before the child reads the spec (as the first line on the
// socketpair): a child in a user namespace of its own could do neither.
func createContainer(w *proto.Writer, spec *specs.Spec, specLine []byte) (*process, error) {
	cg, err := prepareContainerCgroup(spec)
	if err != nil {
		return nil, err
	}
	defer cg.close()
	attr := &syscall.SysProcAttr{Cloneflags: cloneFlags(spec)}
	setUserNamespace(spec, attr)
	return newProcess(w, 0, spawn{
		path: "/proc/self/exe", args: []string{"runuml-init", stage2Arg}, attr: attr,
		setup: func(pid int) error { return placeChild(pid, cg, spec.Process.OOMScoreAdj) },
		input: specLine,
	}, spec.Process.Terminal)
}

// spawn is how newProcess starts a setup child.
type spawn struct {
	path  string
	args  []string
	attr  *syscall.SysProcAttr
	extra []*os.File          // the child's descriptors from 4 on
	setup func(pid int) error // run once the child exists, before it gets input; may be nil
	input []byte              // written to the child's socketpair, then a newline
}

// placeChild moves the setup child into the container's cgroup (cg may be nil: none) and
// sets its OOM score adjustment, which the process it execs keeps.
func placeChild(pid int, cg *cgroupProcs, oom *int) error {
	if err := cg.add(pid); err != nil {
		return err
	}
	if oom == nil {
		return nil
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(*oom)), 0); err != nil {
		return fmt.Errorf("set oom_score_adj to %d: %w", *oom, err)
	}
	return nil
}

// newProcess starts a setup child (runuml-init, or the user namespace joiner that execs it)
// as process id, runs s.setup on it, hands it s.input on the socketpair, and waits for its
// ready word. A terminal process's stdio is the pty whose master comes with that word;
// another's is three pipes.
func newProcess(w *proto.Writer, id uint32, s spawn, terminal bool) (*process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync")
	defer theirs.Close()
	var pipes [3][2]*os.File // stdin, stdout, stderr: [read end, write end]
	var files []*os.File
	if terminal {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		files = append([]*os.File{null, null, null, theirs}, s.extra...)
	} else {
		for i := range pipes {
			if pipes[i][0], pipes[i][1], err = os.Pipe(); err != nil {
				return nil, err
			}
		}
		// Deep pipes let reader and writer move large gulps per call; every guest syscall
		// is expensive (wc -c of 100 MiB from the host: 1.63 -> 1.28 s with 1 MiB).
		// The stdin pipe through its RawConn: Fd() would make it blocking, and its writes
		// must never block (stdinQueue). The output pipes are read with blocking reads, as
		// Fd() leaves them.
		if rc, err := pipes[0][1].SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
		}
		for _, f := range []*os.File{pipes[1][0], pipes[2][0]} {
			unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		}
		files = append([]*os.File{pipes[0][0], pipes[1][1], pipes[2][1], theirs}, s.extra...)
	}
	proc, err := os.StartProcess(s.path, s.args, &os.ProcAttr{Files: files, Sys: s.attr})
	for _, f := range files[:3] {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("start container setup: %w", err)
	}
	if s.setup != nil {
		if err := s.setup(proc.Pid); err != nil {
			unix.Kill(proc.Pid, unix.SIGKILL)
			ours.Close()
			return nil, err
		}
	}
	if s.input != nil {
		ours.Write(append(s.input, '\n'))
	}
	p := &process{w: w, id: id, pid: proc.Pid, sync: ours, ttyFD: -1}
	p.pidNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.pid))
	word, tty, err := recvReady(ours)
	if word != wordReady+"\n" || terminal != (tty >= 0) {
		unix.Kill(p.pid, unix.SIGKILL)
		if tty >= 0 {
			unix.Close(tty)
		}
		if word = strings.TrimSpace(word); word == "" && err != nil {
			word = err.Error()
		}
		return nil, errors.New(word)
	}
	if terminal {
		// The pump reads the master; stdin and resizes go to a second descriptor of it, so
		// the end of stdin does not hang the terminal up.
		in, err := unix.FcntlInt(uintptr(tty), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			unix.Kill(p.pid, unix.SIGKILL)
			unix.Close(tty)
			return nil, err
		}
		p.ttyFD = in
		p.tty = os.NewFile(uintptr(in), "tty")
		p.stdin = newStdinQueue(p, p.tty)
		p.pumpOutput(proto.Stdout, os.NewFile(uintptr(tty), "tty"))
		return p, nil
	}
	p.stdin = newStdinQueue(p, pipes[0][1])
	p.pumpOutput(proto.Stdout, pipes[1][0])
	p.pumpOutput(proto.Stderr, pipes[2][0])
	return p, nil
}

// cloneFlags maps the spec's namespaces to clone flags. The mount namespace is always new
// (the setup pivots into the rootfs). The network namespace is not made in the guest: the
// guest's own network is the container's network, wired by the host. The user namespace is
// added with its mappings (setUserNamespace).
func cloneFlags(spec *specs.Spec) uintptr {
	flags := uintptr(unix.CLONE_NEWNS)
	if spec.Linux == nil {
		return flags
	}
	for _, ns := range spec.Linux.Namespaces {
		switch ns.Type {
		case specs.PIDNamespace:
			flags |= unix.CLONE_NEWPID
		case specs.UTSNamespace:
			flags |= unix.CLONE_NEWUTS
		case specs.IPCNamespace:
			flags |= unix.CLONE_NEWIPC
		case specs.CgroupNamespace:
			flags |= unix.CLONE_NEWCGROUP
		}
	}
	return flags
}

// start tells the stage-2 child to exec the process; once the exec succeeds its end of the
// socketpair closes (close-on-exec), which is the only answer.
func (p *process) start() error {
	defer p.sync.Close()
	if _, err := p.sync.Write([]byte(wordStart + "\n")); err != nil {
		return fmt.Errorf("start container process: %w", err)
	}
	msg, _ := bufio.NewReader(p.sync).ReadString('\n')
	if msg != "" {
		return errors.New(strings.TrimSpace(msg))
	}
	return nil
}

// signal sends sig to the process, or with all to every process in its pid namespace.
func (p *process) signal(sig unix.Signal, all bool) {
	if !all || p.pidNS == "" {
		unix.Kill(p.pid, sig)
		return
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns == p.pidNS {
			unix.Kill(pid, sig)
		}
	}
}

// pumpOutput copies one of the process's output pipes to the line until EOF.
func (p *process) pumpOutput(t proto.Type, r *os.File) {
	p.output.Add(1)
	go func() {
		defer p.output.Done()
		defer r.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if p.w.Write(t, p.id, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// stdinQueue writes the monitor's stdin frames to the process in order and acknowledges
// them in batches (proto.StdinAckBytes), so the monitor can send more; proto.StdinWindow
// bounds what is queued. It never blocks the line's reader, whatever the process does.
//
// The line's reader writes a frame to a pipe itself, without blocking, when nothing is queued
// before it: on one guest CPU every hop to another goroutine is futex syscalls and thread
// switches, each several microseconds in a UML guest. What the pipe does not take at once
// is copied into the queue and written by the queue's goroutine, which may block.
type stdinQueue struct {
	p      *process
	w      *os.File
	raw    syscall.RawConn // w's descriptor for writes that must not block; nil for a tty
	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	busy   bool // the goroutine is writing a frame it took from the queue
	closed bool
	broken bool // the process stopped reading: frames are dropped (and acknowledged)
	done   int  // bytes written or dropped, not yet acknowledged
}

// newStdinQueue writes to w, and closes it at the end of stdin unless it is a terminal,
// which stays open for resizes until the process is reaped (closeTTY).
func newStdinQueue(p *process, w *os.File) *stdinQueue {
	q := &stdinQueue{p: p, w: w}
	q.cond = sync.NewCond(&q.mu)
	if rc, err := w.SyscallConn(); err == nil && p.ttyFD < 0 {
		// A pipe from os.Pipe: non-blocking and in the poller, unless Fd() was called.
		nonblocking := false
		rc.Control(func(fd uintptr) {
			flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
			nonblocking = err == nil && flags&unix.O_NONBLOCK != 0
		})
		if nonblocking {
			q.raw = rc
		}
	}
	go q.run()
	return q
}

// write hands the payload of one Stdin frame to the process. b is only read during the call.
func (q *stdinQueue) write(b []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.queue) == 0 && !q.busy && (q.raw != nil || q.broken) {
		n := q.tryWrite(b)
		q.written(n)
		b = b[n:]
		if len(b) == 0 {
			return
		}
	}
	q.queue = append(q.queue, append([]byte(nil), b...))
	q.cond.Signal()
}

// tryWrite writes what the pipe takes at once and returns how much of b is done with (all of
// it once the process stopped reading). Called with q.mu held.
func (q *stdinQueue) tryWrite(b []byte) int {
	if q.broken {
		return len(b)
	}
	n, err := rawWrite(q.raw, b)
	if err != nil {
		q.broken = true
		return len(b)
	}
	return n
}

// written counts n bytes as done; a complete batch wakes the goroutine to acknowledge it.
// Not the caller: the line's reader must never wait on the line's writer, which a host
// that stops reading the container's output blocks. Called with q.mu held.
func (q *stdinQueue) written(n int) {
	q.done += n
	if q.done >= proto.StdinAckBytes {
		q.cond.Signal()
	}
}

// run writes what is queued, waiting as long as the process does not read, and sends the
// acknowledgements.
func (q *stdinQueue) run() {
	if q.p.ttyFD < 0 {
		defer q.w.Close()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.queue) == 0 && !q.closed && q.done < proto.StdinAckBytes {
			q.cond.Wait()
		}
		end := len(q.queue) == 0 && q.closed
		if q.done >= proto.StdinAckBytes || end {
			// The rest at the end is not needed by the monitor, but keeps the count exact.
			n := q.done
			q.done = 0
			if n > 0 {
				q.mu.Unlock()
				q.p.w.Send(proto.StdinAck, q.p.id, proto.AckMsg{Bytes: n})
				q.mu.Lock()
			}
			if end {
				return
			}
			continue
		}
		b := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.busy = true
		broken := q.broken
		q.mu.Unlock()
		if !broken {
			var err error
			if q.raw != nil {
				err = rawWritePaced(q.raw, b, refillPause)
			} else {
				_, err = q.w.Write(b)
			}
			broken = err != nil
		}
		q.mu.Lock()
		q.busy = false
		q.broken = q.broken || broken
		q.written(len(b))
	}
}

// refillPause is how long the queue's writer waits, once a full stdin pipe has room again,
// before it writes. A reader of a full pipe wakes the writer each time it frees a page; a
// writer that wrote at once would put one page back and be woken by the next read: guest
// context switches and poller calls per 4 KiB that a reader such as wc takes (host context
// switches per 100 MiB into wc -c: 191,000 without the pause, 126,000 with it). It only
// applies when the process is already a whole pipe (1 MiB) behind, so it costs no latency.
const refillPause = time.Millisecond

func (q *stdinQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Signal()
}
