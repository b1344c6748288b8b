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
// no longer than the work takes; when the call would block, the poller waits instead.

// rawReader reads a non-blocking file that Go's poller watches.
type rawReader struct {
	f  *os.File
	rc syscall.RawConn
}

func newRawReader(f *os.File) (*rawReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &rawReader{f: f, rc: rc}, nil
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			r1, _, e := syscall.RawSyscall(unix.SYS_READ, fd, uintptr(unsafePointer(p)), uintptr(len(p)))
			n, errno = int(r1), e
			if errno != unix.EINTR {
				return errno != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
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
