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
// is ready to exec the container's process.
func createContainer(w *proto.Writer, spec *specs.Spec) (*process, error) {
	return newProcess(w, 0, []string{"runuml-init", stage2Arg}, cloneFlags(spec), nil, spec.Process.Terminal)
}

// newProcess starts runuml-init with args as process id, in new namespaces flags, hands it
// input on the socketpair, and waits for its ready word. A terminal process's stdio is the
// pty whose master comes with that word; another's is three pipes.
func newProcess(w *proto.Writer, id uint32, args []string, flags uintptr, input []byte, terminal bool) (*process, error) {
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
		files = []*os.File{null, null, null, theirs}
	} else {
		for i := range pipes {
			if pipes[i][0], pipes[i][1], err = os.Pipe(); err != nil {
				return nil, err
			}
		}
		// Deep pipes let reader and writer move large gulps per call; every guest syscall
		// is expensive (wc -c of 100 MiB from the host: 1.63 -> 1.28 s with 1 MiB).
		for _, f := range []*os.File{pipes[0][1], pipes[1][0], pipes[2][0]} {
			unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		}
		files = []*os.File{pipes[0][0], pipes[1][1], pipes[2][1], theirs}
	}
	proc, err := os.StartProcess("/proc/self/exe", args,
		&os.ProcAttr{Files: files, Sys: &syscall.SysProcAttr{Cloneflags: flags}})
	for _, f := range files[:3] {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("start container setup: %w", err)
	}
	if input != nil {
		ours.Write(append(input, '\n'))
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
// (the setup pivots into the rootfs). The network and user namespaces are not made in the
// guest: the guest's own network is the container's network, wired by the host.
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

// stdinQueue writes the monitor's stdin frames to the process in order, acknowledging each
// so the monitor can send more (proto.StdinWindow bounds what is queued). It never blocks the
// line's reader, whatever the process does.
type stdinQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
}

// newStdinQueue writes to w, and closes it at the end of stdin unless it is a terminal,
// which stays open for resizes until the process is reaped (closeTTY).
func newStdinQueue(p *process, w *os.File) *stdinQueue {
	q := &stdinQueue{}
	q.cond = sync.NewCond(&q.mu)
	go func() {
		if p.ttyFD < 0 {
			defer w.Close()
		}
		broken := false
		for {
			q.mu.Lock()
			for len(q.queue) == 0 && !q.closed {
				q.cond.Wait()
			}
			if len(q.queue) == 0 {
				q.mu.Unlock()
				return
			}
			b := q.queue[0]
			q.queue = q.queue[1:]
			q.mu.Unlock()
			if !broken {
				// A process that stopped reading gets nothing more, but every frame is still
				// acknowledged so the monitor never waits on it.
				_, err := w.Write(b)
				broken = err != nil
			}
			p.w.Send(proto.StdinAck, p.id, proto.AckMsg{Bytes: len(b)})
		}
	}()
	return q
}

func (q *stdinQueue) write(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.queue = append(q.queue, b)
	}
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *stdinQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Signal()
}
