package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/oci"
)

// relay carries the guest's frames to the container's stdio until the container exits or the
// guest dies, and returns the container's exit status.
func (m *Monitor) relay(r *proto.Reader) int {
	var corrupt error
	for {
		f, err := r.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				// A corrupt line (a guest writing garbage on it): nothing more it says can be
				// trusted, so the guest ends now rather than run on unheard.
				corrupt = err
				m.stopGuest()
			}
			break
		}
		if f.Type == proto.DNS {
			m.relayDNS(f.Proc, f.Payload)
			continue
		}
		if f.Proc != 0 {
			m.toExec(f)
			continue
		}
		switch f.Type {
		case proto.Stdout:
			m.stdout.Write(f.Payload)
		case proto.Stderr:
			m.stderr.Write(f.Payload)
		case proto.StdinAck:
			var a proto.AckMsg
			if f.Decode(&a) == nil {
				m.stdinWin.release(a.Bytes)
			}
		case proto.Started:
			m.answerStart(nil)
		case proto.Fail:
			var e proto.ErrorMsg
			f.Decode(&e)
			m.answerStart(errorString(e.Message))
		case proto.PsResult:
			var ps proto.PsMsg
			f.Decode(&ps)
			select {
			case m.psAnswer <- ps.Processes:
			default: // nobody waits any more
			}
		case proto.Exit:
			var e proto.ExitMsg
			if f.Decode(&e) == nil {
				m.answerStart(oci.ErrNotRunning) // if the Start was not answered yet
				return e.Status
			}
		}
	}
	m.closeExecs()
	// The line broke without an Exit frame: the guest died (or was killed) under the
	// container. Its own exit code is not trusted (the container can write /proc/exitcode).
	<-m.dead
	m.mu.Lock()
	killed := m.killed
	m.mu.Unlock()
	if corrupt != nil {
		m.log.Errorf("guest ended without reporting an exit status: its control line was corrupt (%v), so runuml ended it; kernel log:\n%s", corrupt, m.logTail())
		return 255
	}
	if killed {
		return 128 + int(unix.SIGKILL)
	}
	m.log.Errorf("guest ended without reporting an exit status (%s); kernel log:\n%s", waitString(m.umlWS), m.logTail())
	return 255
}

// finish waits for the guest to power off (ending it if it does not) and records the exit.
func (m *Monitor) finish(status int) {
	select {
	case <-m.dead:
	case <-time.After(poweroffWait):
		m.log.Warn("guest did not power off; killing it")
		m.stopGuest()
	}
	m.unplugNetwork()
	m.removeCgroups()
	m.mu.Lock()
	m.st.Status = oci.Stopped
	m.st.ExitStatus = &status
	m.Store.Save(m.st)
	m.mu.Unlock()
	m.closeExecs()
	// Answer calls in flight (a start racing a process that exits at once) before exiting.
	m.calls.Wait()
}

// stopGuest kills the kernel, the init of the jail's pid namespace, so every helper process
// dies with it, and waits for it.
func (m *Monitor) stopGuest() {
	m.mu.Lock()
	m.killed = true
	m.mu.Unlock()
	if m.uml != nil {
		m.uml.Signal(unix.SIGKILL) // kills a frozen guest too (cgroup v2)
		<-m.dead
	}
}

// serve answers control calls until the monitor exits.
func (m *Monitor) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		m.calls.Add(1)
		go func() {
			defer m.calls.Done()
			defer conn.Close()
			var req Request
			var resp Response
			// One line of JSON (the encoder ends it with a newline); an exec's frames follow.
			br := bufio.NewReader(conn)
			line, err := br.ReadBytes('\n')
			if err != nil || json.Unmarshal(line, &req) != nil {
				return
			}
			if req.Op == OpExec {
				m.serveExec(conn, br, req.Process)
				return
			}
			if req.Op == OpPs {
				resp.Processes, err = m.ps()
				resp.HostPids = m.hostPids()
			} else {
				err = m.handle(req)
			}
			if err != nil {
				resp.Error = err.Error()
			}
			json.NewEncoder(conn).Encode(resp)
		}()
	}
}

func (m *Monitor) handle(req Request) error {
	select {
	case <-m.dead:
		return oci.ErrNotRunning
	default:
	}
	switch req.Op {
	case OpStart:
		return m.start()
	case OpSignal:
		return m.signal(req.Signal, req.All)
	case OpPause:
		return m.pause(true)
	case OpResume:
		return m.pause(false)
	}
	return errUnknownOp
}

var errUnknownOp = errorString("unknown request")

type errorString string

func (e errorString) Error() string { return string(e) }

// ps asks the guest for the container's processes; one call at a time.
func (m *Monitor) ps() ([]proto.Process, error) {
	m.psMu.Lock()
	defer m.psMu.Unlock()
	select {
	case <-m.dead:
		return nil, oci.ErrNotRunning
	default:
	}
	if err := m.w.Send(proto.Ps, 0, nil); err != nil {
		return nil, err
	}
	select {
	case procs := <-m.psAnswer:
		return procs, nil
	case <-m.dead:
		return nil, oci.ErrNotRunning
	case <-time.After(startTimeout):
		return nil, errorString("guest did not answer ps in time")
	}
}

// start runs the container's process and begins carrying stdin.
func (m *Monitor) start() error {
	m.mu.Lock()
	if m.st.Status != oci.Created || m.started != nil {
		m.mu.Unlock()
		return errorString("cannot start a container that is " + string(m.st.Status))
	}
	answer := make(chan error, 1)
	m.started = answer
	m.mu.Unlock()
	if err := m.w.Send(proto.Start, 0, nil); err != nil {
		return err
	}
	select {
	case err := <-answer:
		if err != nil {
			return err
		}
	case <-time.After(startTimeout):
		return errorString("guest did not start the process in time")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	go pumpStdin(m.stdin, m.w, m.stdinWin)
	if m.st.Status == oci.Stopped { // it already ran and exited
		return nil
	}
	m.st.Status = oci.Running
	return m.Store.Save(m.st)
}

// answerStart hands the guest's answer to a start call that waits for one.
func (m *Monitor) answerStart(err error) {
	m.mu.Lock()
	ch := m.started
	m.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- err:
	default:
	}
}

// pause freezes the whole guest (no CPU use at all) or thaws it.
func (m *Monitor) pause(frozen bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case frozen && m.st.Status != oci.Running:
		return oci.ErrNotRunning
	case !frozen && m.st.Status != oci.Paused:
		return oci.ErrNotPaused
	}
	if err := freeze(m.cgroup, frozen); err != nil {
		return err
	}
	m.st.Status = oci.Running
	if frozen {
		m.st.Status = oci.Paused
	}
	return m.Store.Save(m.st)
}

// signal relays sig to the container. A SIGKILL the guest has not carried out after a while
// ends the guest from the host, so a hung guest can always be stopped.
func (m *Monitor) signal(sig int, all bool) error {
	m.mu.Lock()
	paused := m.st.Status == oci.Paused
	m.mu.Unlock()
	if paused && unix.Signal(sig) == unix.SIGKILL {
		go m.stopGuest() // a frozen guest cannot carry it out; runc kills a paused container too
		return nil
	}
	if err := m.w.Send(proto.Signal, 0, proto.SignalMsg{Signal: sig, All: all}); err != nil {
		return err
	}
	if unix.Signal(sig) == unix.SIGKILL {
		go func() {
			select {
			case <-m.dead:
			case <-time.After(killEscalation):
				m.log.Warn("guest did not carry out SIGKILL; killing the guest")
				m.stopGuest()
			}
		}()
	}
	return nil
}

// pumpStdin carries in to w as Stdin frames of process 0 (the container's process on the
// line, an exec'd one on its client connection), keeping at most proto.StdinWindow bytes
// unacknowledged, and ends with StdinClose.
func pumpStdin(in io.Reader, w *proto.Writer, win *window) {
	// A deep pipe lets the writer run ahead and each read take a large gulp.
	if f, ok := in.(*os.File); ok {
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
		}
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			win.acquire(n)
			if w.Write(proto.Stdin, 0, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			w.Send(proto.StdinClose, 0, nil)
			return
		}
	}
}

// window counts bytes in flight against a limit.
type window struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int
	used  int
}

func newWindow(limit int) *window {
	w := &window{limit: limit}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *window) acquire(n int) {
	w.mu.Lock()
	for w.used > 0 && w.used+n > w.limit {
		w.cond.Wait()
	}
	w.used += n
	w.mu.Unlock()
}

func (w *window) release(n int) {
	w.mu.Lock()
	w.used -= n
	w.mu.Unlock()
	w.cond.Broadcast()
}
