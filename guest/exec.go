package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/oci"
)

// execClient is one `runuml exec` connected to the monitor.
type execClient struct {
	w    *proto.Writer
	conn net.Conn
	pid  int // the client's host pid, 0 if unknown
}

// hostPids are the host processes that carry the container's processes: the monitor (the
// container's pid for containerd) and each exec client (an exec's pid for containerd). These
// are what `ps --format json` reports, as runc reports the host pids of the container's
// processes: the guest's own pids mean nothing on the host (docker top looks them up there).
func (m *Monitor) hostPids() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	pids := []int{os.Getpid()}
	for _, c := range m.execs {
		if c.pid > 0 {
			pids = append(pids, c.pid)
		}
	}
	return pids
}

// peerPid returns the pid of the process at the other end of a unix socket, 0 if unknown.
func peerPid(conn net.Conn) int {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var cred *unix.Ucred
	rc.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}

// serveExec runs p in the container and joins the client's connection to it: frames for the
// process's id go to the client with id 0, and the client's stdin and signals go to the guest.
func (m *Monitor) serveExec(conn net.Conn, r io.Reader, p *specs.Process) {
	m.mu.Lock()
	if m.st.Status != oci.Running {
		m.mu.Unlock()
		proto.NewWriter(conn).Send(proto.Fail, 0, proto.ErrorMsg{Message: oci.ErrNotRunning.Error()})
		return
	}
	m.nextExec++
	id := m.nextExec
	c := &execClient{w: proto.NewWriter(conn), conn: conn, pid: peerPid(conn)}
	if m.execs == nil {
		m.execs = map[uint32]*execClient{}
	}
	m.execs[id] = c
	m.mu.Unlock()
	if err := m.w.Send(proto.Exec, id, proto.ExecMsg{Process: p}); err != nil {
		m.dropExec(id)
		return
	}
	in := proto.NewReader(r)
	for {
		f, err := in.Read()
		if err != nil {
			// The client went away: its process loses its stdin, as at a hangup, and its
			// output has nowhere to go.
			m.w.Send(proto.StdinClose, id, nil)
			m.dropExec(id)
			return
		}
		switch f.Type {
		case proto.Stdin, proto.StdinClose, proto.Signal, proto.Resize:
			m.w.Write(f.Type, id, f.Payload)
		}
	}
}

// toExec hands a guest frame for an exec'd process to its client.
func (m *Monitor) toExec(f proto.Frame) {
	m.mu.Lock()
	c := m.execs[f.Proc]
	m.mu.Unlock()
	if c == nil {
		return
	}
	c.w.Write(f.Type, 0, f.Payload)
	if f.Type == proto.Exit || f.Type == proto.Fail {
		m.dropExec(f.Proc)
	}
}

func (m *Monitor) dropExec(id uint32) {
	m.mu.Lock()
	c := m.execs[id]
	delete(m.execs, id)
	m.mu.Unlock()
	if c != nil {
		c.conn.Close()
	}
}

// closeExecs ends every exec session: the container is gone.
func (m *Monitor) closeExecs() {
	m.mu.Lock()
	ids := make([]uint32, 0, len(m.execs))
	for id := range m.execs {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.dropExec(id)
	}
}

// Exec runs p in the container whose state dir is dir, carrying its stdio, and returns its
// exit status. started is called once the process runs. Signals runuml receives are the
// process's. With a terminal, tty is the host end whose window size the process's follows.
func Exec(dir string, p *specs.Process, in io.Reader, out, errOut io.Writer, tty *os.File, started func()) (int, error) {
	conn, err := dialControl(dir, callTimeout)
	if err != nil {
		return 0, oci.ErrNotRunning
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(Request{Op: OpExec, Process: p}); err != nil {
		return 0, err
	}
	r, w := proto.NewReader(conn), proto.NewWriter(conn)
	// The guest's answer has a deadline, as every call does (a wedged agent never sends
	// one); the process's life has none.
	conn.SetReadDeadline(time.Now().Add(callTimeout))
	f, err := r.Read()
	conn.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, fmt.Errorf("exec: the guest did not start the process within %v", callTimeout)
	}
	if err != nil {
		return 0, fmt.Errorf("exec: container exited: %w", oci.ErrNotRunning)
	}
	if f.Type == proto.Fail {
		var e proto.ErrorMsg
		f.Decode(&e)
		if e.Message == oci.ErrNotRunning.Error() {
			return 0, oci.ErrNotRunning
		}
		return 0, fmt.Errorf("exec failed: %s", e.Message)
	}
	// The process's first output may overtake Started: any frame but Fail means it runs.
	started()
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			w.Send(proto.Signal, 0, proto.SignalMsg{Signal: int(s.(unix.Signal))})
		}
	}()
	if tty != nil {
		done := make(chan struct{})
		defer close(done)
		go watchSize(tty, w, 0, done)
	}
	win := newWindow(proto.StdinWindow)
	go pumpStdin(in, w, win)
	for ; ; f, err = r.Read() {
		if err != nil {
			return 0, fmt.Errorf("exec: container exited before the process: %w", oci.ErrNotRunning)
		}
		switch f.Type {
		case proto.Stdout:
			out.Write(f.Payload)
		case proto.Stderr:
			errOut.Write(f.Payload)
		case proto.StdinAck:
			var a proto.AckMsg
			if f.Decode(&a) == nil {
				win.release(a.Bytes)
			}
		case proto.Exit:
			var e proto.ExitMsg
			f.Decode(&e)
			return e.Status, nil
		}
	}
}
