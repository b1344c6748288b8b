package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/containerd/console"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/oci"
)

// checkConsole applies runc's rules: a process with a terminal needs a console socket to send
// the master to, and a console socket needs a terminal.
func checkConsole(terminal bool, socket string) error {
	switch {
	case terminal && socket == "":
		return fmt.Errorf("%w: process.terminal is set but no --console-socket was given to receive the terminal", oci.ErrBadConfig)
	case !terminal && socket != "":
		return fmt.Errorf("%w: --console-socket given but process.terminal is not set", oci.ErrBadConfig)
	}
	return nil
}

// Terminal connects a foreground `runuml run` to the container's terminal, as `runc run`
// does without a console socket: it receives the master on a socket of its own and copies
// between it and runuml's own terminal, which it puts in raw mode.
type Terminal struct {
	socket *runc.Socket
	master console.Console
	user   console.Console
}

// NewTerminal returns a Terminal for the container of bundle if its process has a terminal,
// or nil; its Socket is the console socket to create the container with.
func NewTerminal(bundle string) (*Terminal, error) {
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	spec, err := oci.LoadSpec(bundle)
	if err != nil || !spec.Process.Terminal {
		return nil, err
	}
	socket, err := runc.NewTempConsoleSocket()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &Terminal{socket: socket}, nil
}

// Socket is the path of the console socket.
func (t *Terminal) Socket() string { return t.socket.Path() }

// Attach takes the master sent during create and starts copying; runuml's stdin must be a
// terminal.
func (t *Terminal) Attach() error {
	t.user = console.Current()
	if t.user == nil || !isTerminal(os.Stdin) {
		return errors.New("process.terminal is set but runuml's stdin is not a terminal (use --console-socket or -d)")
	}
	var err error
	if t.master, err = t.socket.ReceiveMaster(); err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	if err := proto.MakeRaw(int(t.user.Fd())); err != nil {
		return err
	}
	t.master.ResizeFrom(t.user)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	go func() {
		for range winch {
			t.master.ResizeFrom(t.user)
		}
	}()
	go io.Copy(t.master, os.Stdin)
	go io.Copy(os.Stdout, t.master)
	return nil
}

// Close restores runuml's terminal and removes the socket.
func (t *Terminal) Close() {
	if t.user != nil {
		t.user.Reset()
	}
	if t.master != nil {
		t.master.Close()
	}
	t.socket.Close()
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// execTerminal makes the host end of an exec'd process's terminal: a pty whose master goes
// to the console socket, or runuml's own terminal in raw mode. It returns the terminal, the
// stdio that becomes, and what restores it.
func execTerminal(stdio Stdio) (*os.File, Stdio, func(), error) {
	if stdio.ConsoleSocket != "" {
		tty, err := guest.OpenConsole(stdio.ConsoleSocket)
		if err != nil {
			return nil, stdio, nil, err
		}
		return tty, Stdio{In: tty, Out: tty, Err: tty}, func() { tty.Close() }, nil
	}
	in, ok := stdio.In.(*os.File)
	if !ok || !isTerminal(in) {
		return nil, stdio, nil, fmt.Errorf("%w: exec --tty needs --console-socket or a terminal on stdin", oci.ErrBadConfig)
	}
	user, err := console.ConsoleFromFile(in) // keeps the settings to restore
	if err != nil {
		return nil, stdio, nil, err
	}
	if err := proto.MakeRaw(int(in.Fd())); err != nil {
		return nil, stdio, nil, err
	}
	return in, stdio, func() { user.Reset() }, nil
}
