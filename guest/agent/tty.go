package agent

import (
	"bytes"
	"fmt"
	"os"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// A process with process.terminal gets a pty opened inside the container, as runc does, so
// its tty is /dev/pts/N of the container's own devpts. The setup child sends the master to
// the agent with its ready word (SCM_RIGHTS on the setup socketpair); the agent carries the
// master's bytes as Stdout frames and writes Stdin frames into it, and Resize frames set its
// window size.

// sendReady reports ready on sync; for a terminal process it first opens the pty, sends its
// master with the word and returns the slave, which the process takes on at start (takeTTY).
func sendReady(sync *os.File, terminal bool) (*os.File, error) {
	if !terminal {
		_, err := fmt.Fprintln(sync, wordReady)
		return nil, err
	}
	master, slavePath, err := console.NewPty()
	if err != nil {
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open terminal: %w", err)
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(sync.Fd()), []byte(wordReady+"\n"), rights, nil, 0); err != nil {
		slave.Close()
		return nil, fmt.Errorf("send terminal: %w", err)
	}
	return slave, nil
}

// takeTTY makes slave the standard input, output and error and the controlling terminal of
// this process, in a session of its own, owned by the process's user (as runc does).
func takeTTY(slave *os.File, uid uint32) error {
	fd := int(slave.Fd())
	if err := unix.Fchown(fd, int(uid), -1); err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("terminal: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("terminal: set controlling tty: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
	}
	return slave.Close()
}

// recvReady reads the setup child's first word, and the terminal master sent with it
// (-1 when none was).
func recvReady(sync *os.File) (string, int, error) {
	var word []byte
	tty := -1
	buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4))
	for !bytes.Contains(word, []byte("\n")) {
		n, oobn, _, _, err := unix.Recvmsg(int(sync.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return string(word), tty, err
		}
		if n == 0 {
			break
		}
		word = append(word, buf[:n]...)
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
				tty = fds[0]
			}
		}
	}
	return string(word), tty, nil
}

// resize sets the window size of the process's terminal; the guest kernel signals SIGWINCH.
func (p *process) resize(rows, cols uint16) {
	if p.ttyFD >= 0 {
		unix.IoctlSetWinsize(p.ttyFD, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
}

// closeTTY releases the terminal once the process has exited and its output is sent.
func (p *process) closeTTY() {
	if p.tty != nil {
		p.tty.Close()
	}
}
