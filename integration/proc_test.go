package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// capture collects a stream in the background; a test may wait for text to appear in it.
type capture struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{} // closed at EOF
}

func newCapture(r io.Reader) *capture {
	c := &capture{done: make(chan struct{})}
	go func() {
		io.Copy(c, r)
		close(c.done)
	}()
	return c
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until s has appeared in the stream and reports whether it did.
func (c *capture) waitFor(s string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(c.String(), s) {
			return true
		}
	}
	return false
}

// wait returns everything the stream carried, once it reaches EOF (or after timeout, what
// came until then).
func (c *capture) wait(timeout time.Duration) []byte {
	select {
	case <-c.done:
	case <-time.After(timeout):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// reap waits for process pid, our child since TestMain made us a subreaper, and sends its
// exit status (128+signal for a signal death). Should it not be our child, it still waits
// for the exit, and sends -1: its status cannot be read.
func reap(pid int) <-chan int {
	ch := make(chan int, 1)
	go func() {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		for err == unix.EINTR {
			_, err = unix.Wait4(pid, &ws, 0, nil)
		}
		switch {
		case err != nil:
			waitGone(pid)
			ch <- -1
		case ws.Signaled():
			ch <- 128 + int(ws.Signal())
		default:
			ch <- ws.ExitStatus()
		}
	}()
	return ch
}

// waitGone waits until process pid, not our child, has exited.
func waitGone(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone already
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			return
		}
	}
}

// checkNothingLeft fails the test if any trace of its containers remains on the host: a
// state dir under its --root, a process (runuml verb, monitor, jail or guest kernel), a
// mount or a host cgroup. Exits are asynchronous, so it gives them a moment.
func (e *env) checkNothingLeft() {
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if left = e.leftovers(); len(left) == 0 {
			return
		}
	}
	e.t.Errorf("left behind on the host:\n  %s", strings.Join(left, "\n  "))
}

func (e *env) leftovers() []string {
	var left []string
	entries, _ := os.ReadDir(e.root)
	for _, d := range entries {
		left = append(left, "state dir "+e.root+"/"+d.Name())
	}
	for _, p := range e.processes() {
		left = append(left, fmt.Sprintf("process %d: %s", p.pid, p.cmdline))
	}
	for _, dir := range e.cgroupDirs() {
		left = append(left, "cgroup "+dir)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, e.tag) {
			left = append(left, "mount "+line)
		}
	}
	return left
}

type proc struct {
	pid     int
	cmdline string
}

// processes returns the live processes of this test's containers: runuml processes name
// its --root on their command line; a guest kernel ("linux") does not, but the jail's mount
// of the container's config from its state dir does name it.
func (e *env) processes() []proc {
	var out []proc
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(raw) == 0 { // gone, a kernel thread or a zombie
			continue
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
		ours := strings.Contains(cmdline, e.root)
		if !ours && strings.HasPrefix(cmdline, "linux ") {
			mounts, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
			ours = bytes.Contains(mounts, []byte(e.tag))
		}
		if ours {
			out = append(out, proc{pid, cmdline})
		}
	}
	return out
}

// tidy removes what a failed test left, so later tests start clean: it force-deletes its
// containers and kills its leftover processes (only ever ours, found by our root). When the
// test failed it shows the runtime log.
func (e *env) tidy() {
	if e.t.Failed() {
		if data, err := os.ReadFile(e.log); err == nil && len(data) > 0 {
			e.t.Logf("runtime log %s:\n%s", e.log, tail(data, 4096))
		}
	}
	// The test's own context may have run out.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	entries, _ := os.ReadDir(e.root)
	for _, d := range entries {
		e.rc.Delete(ctx, d.Name(), &runc.DeleteOpts{Force: true})
	}
	for _, p := range e.processes() {
		unix.Kill(p.pid, unix.SIGKILL)
	}
	os.RemoveAll(e.root)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
