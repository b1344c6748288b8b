package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// terminal receives a pty master on a console socket, as containerd's shim does, and reads
// what the container writes to it.
type terminal struct {
	socket *runc.Socket
	master console.Console
	out    *capture
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	s, err := runc.NewTempConsoleSocket()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &terminal{socket: s}
}

// receive takes the master the runtime sent and starts reading it.
func (term *terminal) receive(t *testing.T, size console.WinSize) {
	t.Helper()
	m, err := term.socket.ReceiveMaster()
	if err != nil {
		t.Fatalf("receive the pty master: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Resize(size); err != nil {
		t.Fatal(err)
	}
	term.master, term.out = m, newCapture(m)
}

// expect waits for want in the terminal's output, and fails the test without it.
func (term *terminal) expect(t *testing.T, want string) {
	t.Helper()
	if !term.out.waitFor(want, waitTimeout) {
		t.Fatalf("terminal never showed %q; it showed %q", want, term.out.String())
	}
}

func (term *terminal) send(t *testing.T, s string) {
	t.Helper()
	if _, err := term.master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// TestTerminal runs an interactive shell on a terminal as containerd does: the master comes
// over the console socket; the shell has /dev/pts/N as its controlling tty, sees the window
// size set on the master before start and after a resize, ^C interrupts its foreground
// program, and `exit 5` ends the container with 5.
func TestTerminal(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh"}, func(s *specs.Spec) { s.Process.Terminal = true })
	term := newTerminal(t)
	pidFile := filepath.Join(e.dir, "tty.pid")
	if err := e.rc.Create(e.ctx, "tty", b.Dir, &runc.CreateOpts{ConsoleSocket: term.socket, PidFile: pidFile}); err != nil {
		t.Fatalf("create: %v; runtime log: %s", err, e.lastLogError())
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	exited := reap(pid)
	term.receive(t, console.WinSize{Height: 30, Width: 100})
	if err := e.rc.Start(e.ctx, "tty"); err != nil {
		t.Fatalf("start: %v; runtime log: %s", err, e.lastLogError())
	}
	term.send(t, "tty; stty size; echo x-$((6*7))\n")
	term.expect(t, "x-42")
	if out := term.out.String(); !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "30 100") {
		t.Errorf("tty and stty size printed %q; want /dev/pts/0 and 30 100", out)
	}
	term.master.Resize(console.WinSize{Height: 41, Width: 123})
	time.Sleep(200 * time.Millisecond) // the resize travels to the guest beside the input
	term.send(t, "stty size\n")
	term.expect(t, "41 123")
	term.send(t, `sh -c 'trap "echo caught-int; exit 7" INT; echo ar""med; while :; do sleep 1; done'`+"\n")
	term.expect(t, "armed") // only the program's output: the echoed line has ar""med
	term.send(t, "\x03")
	term.expect(t, "caught-int")
	term.send(t, "echo status-$?\n")
	term.expect(t, "status-7")
	term.send(t, "exit 5\n")
	select {
	case status := <-exited:
		if status != 5 {
			t.Errorf("container exited %d after `exit 5`, want 5", status)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("container did not exit after `exit 5`; terminal: %q", term.out.String())
	}
	e.waitStatus("tty", "stopped")
	if err := e.rc.Delete(e.ctx, "tty", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestExecTerminal execs a shell with a terminal into a running container as the shim does
// (detached, with a console socket and a pid file): it gets its own pts with the size set on
// the master, and the process in the pid file exits with the shell's status.
func TestExecTerminal(t *testing.T) {
	t.Run("plain", func(t *testing.T) { execTerminal(t) })
	// The joiner (guest/agent/userns.go) passes the terminal on to the exec stage.
	t.Run("user namespace", func(t *testing.T) { execTerminal(t, userns) })
}

func execTerminal(t *testing.T, edits ...func(*specs.Spec)) {
	e := newEnv(t)
	c := e.create("xtty", e.newBundle([]string{"sleep", "100"}, edits...))
	e.start(c)
	term := newTerminal(t)
	p := execProc("sh")
	p.Terminal = true
	pidFile := filepath.Join(e.dir, "xtty-exec.pid")
	err := e.rc.Exec(e.ctx, "xtty", p, &runc.ExecOpts{ConsoleSocket: term.socket, PidFile: pidFile, Detach: true})
	if err != nil {
		t.Fatalf("exec --tty: %v; runtime log: %s", err, e.lastLogError())
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	exited := reap(pid)
	term.receive(t, console.WinSize{Height: 25, Width: 81})
	time.Sleep(200 * time.Millisecond)
	term.send(t, "tty; stty size; exit 3\n")
	term.expect(t, "25 81")
	if out := term.out.String(); !strings.Contains(out, "/dev/pts/") {
		t.Errorf("tty printed %q; want a /dev/pts path", out)
	}
	select {
	case status := <-exited:
		if status != 3 {
			t.Errorf("exec process exited %d, want 3", status)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("exec process did not exit; terminal: %q", term.out.String())
	}
	if err := e.rc.Delete(e.ctx, "xtty", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete: %v", err)
	}
	c.wait(t)
}

// TestTerminalNeedsConsoleSocket checks runc's rules: a terminal without a console socket,
// and a console socket without a terminal, are refused before anything is made.
func TestTerminalNeedsConsoleSocket(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh"}, func(s *specs.Spec) { s.Process.Terminal = true })
	e.wantErr("create with a terminal and no console socket",
		e.rc.Create(e.ctx, "nosock", b.Dir, &runc.CreateOpts{}), "console-socket")
	plain := e.newBundle([]string{"true"})
	term := newTerminal(t)
	e.clearLog()
	e.wantErr("create with a console socket and no terminal",
		e.rc.Create(e.ctx, "noterm", plain.Dir, &runc.CreateOpts{ConsoleSocket: term.socket}), "process.terminal is not set")
	for _, id := range []string{"nosock", "noterm"} {
		if _, _, status := e.cli("state", id); status == 0 {
			t.Errorf("state %s succeeded after a refused create", id)
		}
	}
}
