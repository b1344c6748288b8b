package guest

import (
	"bytes"
	"os"
	"sync"
)

// maxKernelLog bounds the kernel log in the state dir. The guest's console writes to it,
// and a container root that can reach the console (mknod /dev/console with docker's
// default capabilities) could otherwise fill the host's /run with it.
const maxKernelLog = 1 << 20

// kernelLog is the kernel's stdout and stderr: STATE/kernel.log, which once it reaches
// maxKernelLog becomes kernel.log.1 (replacing the one before) and starts anew, so at most
// twice that stays and the tail users are shown is always the newest. Given to exec.Cmd as
// a plain writer, it is fed through a pipe that Wait drains, so the last words of a guest
// that died are in the file before the monitor reads its tail.
type kernelLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	// onPanic is called once when the kernel logs a panic: our UML kernel then spins
	// instead of exiting (measured with 7.2 when its init, the agent, died), so whoever
	// waits for it to exit would wait forever.
	onPanic  func()
	last     []byte // the end of the previous write, for a panic line split across writes
	panicked bool
}

// panicLine starts the line a panicking kernel logs.
var panicLine = []byte("Kernel panic - not syncing")

func newKernelLog(path string) (*kernelLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &kernelLog{path: path, f: f, size: fi.Size()}, nil
}

func (l *kernelLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size+int64(len(p)) > maxKernelLog && l.size > 0 {
		if err := os.Rename(l.path, l.path+".1"); err == nil {
			if f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				l.f.Close()
				l.f, l.size = f, 0
			}
		}
	}
	n, _ := l.f.Write(p)
	l.size += int64(n)
	if !l.panicked && l.onPanic != nil {
		if bytes.Contains(append(l.last, p...), panicLine) {
			l.panicked = true
			go l.onPanic()
		}
		l.last = append(l.last[:0], p[max(0, len(p)-len(panicLine)):]...)
	}
	// What cannot be written (a full disk) is dropped: an error would end the copy from the
	// kernel's pipe, and the kernel's next console write would fail with EPIPE.
	return len(p), nil
}

// Close closes the file.
func (l *kernelLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
