package guest

import (
	"fmt"
	"net"
	"os"
	"os/signal"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
)

// A process with a terminal has two ptys: one in the guest, which gives it a real controlling
// tty, and one on the host, whose master goes to the caller's console socket as runc sends it.
// The host slave, in raw mode, is the process's stdio on the host; its window size follows
// the master and is carried into the guest as Resize frames.

// OpenConsole makes a host pty, sends its master to the console socket at path (the pty's
// name as data, the descriptor as SCM_RIGHTS, as runc does) and returns the slave in raw
// mode. Opened by a session leader without a terminal, the slave becomes its controlling
// terminal, so the window size changes set on the master arrive as SIGWINCH.
func OpenConsole(path string) (*os.File, error) {
	master, slavePath, err := console.NewPty()
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := sendConsole(path, master); err != nil {
		slave.Close()
		return nil, err
	}
	if err := proto.MakeRaw(int(slave.Fd())); err != nil {
		slave.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	return slave, nil
}

func sendConsole(path string, master console.Console) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("console socket %s: not a unix socket", path)
	}
	_, _, err = uc.WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil)
	if err != nil {
		return fmt.Errorf("console socket: send pty master: %w", err)
	}
	return nil
}

// watchSize sends tty's window size for process proc as a Resize frame now and after every
// SIGWINCH, until done is closed.
func watchSize(tty *os.File, w *proto.Writer, proc uint32, done <-chan struct{}) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	defer signal.Stop(winch)
	rc, err := tty.SyscallConn()
	if err != nil {
		return
	}
	for {
		var ws *unix.Winsize
		rc.Control(func(fd uintptr) { ws, err = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) })
		if err == nil {
			w.Send(proto.Resize, proc, proto.ResizeMsg{Rows: ws.Row, Cols: ws.Col})
		}
		select {
		case <-winch:
		case <-done:
			return
		}
	}
}
