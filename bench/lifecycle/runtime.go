package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/bench/benchrt"
)

// run is `RUNTIME --root R run --bundle B ID` in the foreground; on failure the container is
// deleted with --force, whatever state it was left in.
func run(r *benchrt.Runtime, b *benchrt.Bundle, timeout time.Duration, stdin, stdout *os.File) (time.Duration, error) {
	id := r.NewID()
	el, err := r.Call(timeout, stdin, stdout, "run", "--bundle", b.Dir, id)
	if err != nil {
		r.ForceDelete(id)
	}
	return el, err
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
