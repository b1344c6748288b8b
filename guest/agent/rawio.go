package agent

import (
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The hot stdin path (line → agent → process's pipe) calls read and write on non-blocking
// descriptors through syscall.RawSyscall instead of the usual wrappers. The usual ones mark
// the goroutine as in a system call, and in a one-CPU guest the call often outlasts the
// runtime's 20 µs threshold: a pipe write wakes the container's process, which runs before
// the agent returns from the call. The runtime then hands its only P to another thread (a
// wake-up, a spin, a futex sleep) and takes it back after: ~6 guest syscalls and thread
// switches per 64 KiB of stdin (Go execution trace: ~15,000 scheduler events per 100 MiB
// before, ~1,500 after). A non-blocking call does not wait for the other side (a tty read
// may wait briefly for the kernel's own flip-buffer work), so the raw form holds the P for
// no longer than the work takes; when the call would block, a blocking call waits instead.

// rawReader reads a non-blocking descriptor. When it has no data it waits in poll(2) for
// input only, not in Go's poller: the poller registers every descriptor for output too, and
// a tty signals room for output each time its host side drains, which woke the poller's
// thread over and over while the container wrote to stdout (100 MiB out: +25% CPU).
type rawReader struct {
	fd   int
	name string
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		r1, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(r.fd), uintptr(unsafePointer(p)), uintptr(len(p)))
		switch e {
		case 0:
			if r1 == 0 {
				return 0, io.EOF
			}
			return int(r1), nil
		case unix.EINTR:
		case unix.EAGAIN:
			// A blocking wait: the runtime hands the P on meanwhile, as it should.
			fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return 0, &os.PathError{Op: "poll", Path: r.name, Err: err}
			}
		default:
			return 0, &os.PathError{Op: "read", Path: r.name, Err: e}
		}
	}
}

// rawWrite writes what a non-blocking file that Go's poller watches takes at once.
func rawWrite(rc syscall.RawConn, b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for done < len(b) {
			r1, _, e := syscall.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafePointer(b[done:])), uintptr(len(b)-done))
			switch e {
			case 0:
				done += int(r1)
			case unix.EINTR:
			case unix.EAGAIN:
				return true
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return done, err
}

// rawWritePaced writes all of b to a non-blocking file that Go's poller watches. When the
// file is full it waits until there is room, then pauses before it writes again.
func rawWritePaced(rc syscall.RawConn, b []byte, pause time.Duration) error {
	for len(b) > 0 {
		woke := false
		var errno syscall.Errno
		err := rc.Write(func(fd uintptr) bool {
			if woke {
				return true // room again: pause below, then write
			}
			for len(b) > 0 {
				r1, _, e := syscall.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafePointer(b)), uintptr(len(b)))
				switch e {
				case 0:
					b = b[r1:]
				case unix.EINTR:
				case unix.EAGAIN:
					// Waiting now cannot miss the reader's wake-up: the poller was armed
					// before this write.
					woke = true
					return false
				default:
					errno = e
					return true
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		if errno != 0 {
			return errno
		}
		if woke {
			time.Sleep(pause)
		}
	}
	return nil
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
