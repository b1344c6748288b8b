package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ociRuntime is one OCI runtime CLI with a state root of its own under the work dir.
type ociRuntime struct {
	name   string
	bin    string
	root   string
	stderr *os.File // a file, not a pipe: waiting for a pipe's EOF would be timed too
	n      int      // containers made so far, for fresh ids
	fails  []string // errors of failed attempts, retried and reported
}

// maxTries bounds attempt: a runtime failing this often in a row ends the benchmark.
const maxTries = 3

// attempt runs f until it succeeds, up to maxTries times. A flaky failure (runuml's start of
// a process that exits at once has timed out at random) should not void the whole benchmark,
// so each is counted, reported and retried with a fresh container.
func (r *ociRuntime) attempt(f func() error) error {
	var err error
	for range maxTries {
		if err = f(); err == nil {
			return nil
		}
		r.fails = append(r.fails, err.Error())
		fmt.Fprintf(os.Stderr, "failed, retrying: %v\n", err)
	}
	return err
}

func newRuntime(name, bin, work string) (*ociRuntime, error) {
	r := &ociRuntime{name: name, bin: bin, root: filepath.Join(work, "root-"+name)}
	var err error
	r.stderr, err = os.Create(filepath.Join(work, "stderr-"+name))
	return r, err
}

// newID returns an id never used before, so no run sees state left by another.
func (r *ociRuntime) newID() string {
	r.n++
	return fmt.Sprintf("lc%d-%s-%d", os.Getpid(), r.name, r.n)
}

func (r *ociRuntime) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.bin, append([]string{"--root", r.root}, args...)...)
}

// errText returns what the runtime wrote to stderr in its last call.
func (r *ociRuntime) errText() string {
	data, _ := os.ReadFile(r.stderr.Name())
	if len(data) > 1000 {
		data = data[len(data)-1000:]
	}
	return strings.TrimSpace(string(data))
}

// call runs one CLI verb with stdio as given (nil: /dev/null) and returns how long it took.
// stdin and stdout may be pipe ends; they are closed here once the runtime has them.
func (r *ociRuntime) call(timeout time.Duration, stdin, stdout *os.File, args ...string) (time.Duration, error) {
	if err := r.stderr.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := r.stderr.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := r.command(ctx, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = r.stderr
	t0 := time.Now()
	err := cmd.Start()
	// Our copies of the pipe ends must go, or the other side never sees EOF.
	for _, f := range []*os.File{stdin, stdout} {
		if f != nil {
			f.Close()
		}
	}
	if err == nil {
		err = cmd.Wait()
	}
	el := time.Since(t0)
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return el, fmt.Errorf("%s %s: %w: %s", r.name, strings.Join(args, " "), err, r.errText())
	}
	return el, nil
}

// run is `RUNTIME --root R run --bundle B ID` in the foreground; on failure the container is
// deleted with --force, whatever state it was left in.
func (r *ociRuntime) run(b *bundle, timeout time.Duration, stdin, stdout *os.File) (time.Duration, error) {
	id := r.newID()
	el, err := r.call(timeout, stdin, stdout, "run", "--bundle", b.dir, id)
	if err != nil {
		r.forceDelete(id)
	}
	return el, err
}

// forceDelete removes container id whatever its state; errors are ours to ignore (it may be
// gone already).
func (r *ociRuntime) forceDelete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.command(ctx, "delete", "--force", id).Run()
}

// cleanup deletes every container left in our root, then the root itself.
func (r *ociRuntime) cleanup() {
	if out, err := r.command(context.Background(), "list", "-q").Output(); err == nil {
		for _, id := range strings.Fields(string(out)) {
			r.forceDelete(id)
		}
	}
	os.RemoveAll(r.root)
	r.stderr.Close()
}

// waitPidFile waits for the process named in a --pid-file to exit; it need not be our child.
func waitPidFile(path string, timeout time.Duration) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // exited already
	} else if err != nil {
		return err
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return fmt.Errorf("pid %d still running after %v", pid, timeout)
		}
		return nil
	}
}
