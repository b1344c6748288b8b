package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
)

// dockerTTY is the docker CLI run on a pseudo-terminal of the test's, as a user runs
// `docker run -it` in a terminal window.
type dockerTTY struct {
	terminal
	cmd  *exec.Cmd
	done chan int // the CLI's exit status
}

// dockerOnTTY starts the docker CLI with args on a new pty of size 30x100.
func (d dockerT) dockerOnTTY(args ...string) *dockerTTY {
	d.t.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { master.Close() })
	if err := master.Resize(console.WinSize{Height: 30, Width: 100}); err != nil {
		d.t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer slave.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	d.t.Cleanup(cancel)
	cmd := d.DockerCmd(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	tty := &dockerTTY{terminal: terminal{master: master, out: newCapture(master)}, cmd: cmd, done: make(chan int, 1)}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			tty.done <- ee.ExitCode()
		case err != nil:
			tty.done <- -1
		default:
			tty.done <- 0
		}
	}()
	return tty
}

// status waits for the CLI to exit and returns its status.
func (tty *dockerTTY) status(t *testing.T) int {
	t.Helper()
	select {
	case s := <-tty.done:
		return s
	case <-time.After(waitTimeout):
		t.Fatalf("docker did not exit; terminal: %q", tty.out.String())
		return -1
	}
}

// shell drives the container's sh on the terminal: its prompt, a command, its tty (starting
// with ttyPrefix) and the terminal's size 30x100, then `exit` with exit; it returns the CLI's
// exit status.
func (tty *dockerTTY) shell(t *testing.T, ttyPrefix string, exit int) int {
	t.Helper()
	tty.expect(t, "/ # ")
	tty.send(t, "tty; stty size; echo x-$((6*7))\n")
	tty.expect(t, "x-42")
	tty.expect(t, ttyPrefix)
	tty.expect(t, "30 100")
	tty.send(t, fmt.Sprintf("exit %d\n", exit))
	return tty.status(t)
}

// TestDockerRunTTY: `docker run -it` in a terminal gives a shell prompt on the container's
// own pty with the terminal's size; a command runs; `exit 5` ends docker run with 5.
func TestDockerRunTTY(t *testing.T) {
	d := newDocker(t)
	tty := d.dockerOnTTY("run", "-it", "--rm", "--runtime=uml", "--network", "none", testImage, "sh")
	if s := tty.shell(t, "/dev/pts/0", 5); s != 5 {
		t.Errorf("docker run -it exited %d after `exit 5`, want 5; terminal: %q", s, tty.out.String())
	}
}

// TestDockerExecTTY: `docker exec -it` into a running container gives a shell on a pty of
// its own; its exit status is docker exec's.
func TestDockerExecTTY(t *testing.T) {
	d := newDocker(t)
	id := d.detach(testImage, "sleep", "1000")
	tty := d.dockerOnTTY("exec", "-it", id, "sh")
	if s := tty.shell(t, "/dev/pts/", 3); s != 3 {
		t.Errorf("docker exec -it exited %d after `exit 3`, want 3; terminal: %q", s, tty.out.String())
	}
}
