package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKernelLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), KernelLog)
	l, err := newKernelLog(path)
	if err != nil {
		t.Fatal(err)
	}
	panicked := make(chan struct{}, 2)
	l.onPanic = func() { panicked <- struct{}{} }
	line := strings.Repeat("x", 999) + "\n"
	for range 3 * maxKernelLog / len(line) {
		l.Write([]byte(line))
	}
	// A panic line split across two writes, then another panic.
	l.Write([]byte("boot ok\nKernel pan"))
	l.Write([]byte("ic - not syncing: Attempted to kill init!\n"))
	l.Write([]byte("Kernel panic - not syncing: again\n"))
	cur, _ := os.ReadFile(path)
	prev, _ := os.ReadFile(path + ".1")
	if len(cur) > maxKernelLog || len(prev) > maxKernelLog || len(cur)+len(prev) < maxKernelLog {
		t.Errorf("kernel log %d bytes, previous %d; want each at most %d and together at least that", len(cur), len(prev), maxKernelLog)
	}
	if !strings.HasSuffix(string(cur), "Kernel panic - not syncing: Attempted to kill init!\nKernel panic - not syncing: again\n") {
		t.Errorf("the newest lines are not at the end of the log: %q", cur[max(0, len(cur)-200):])
	}
	select {
	case <-panicked:
	case <-time.After(5 * time.Second):
		t.Fatal("panic not noticed")
	}
	time.Sleep(50 * time.Millisecond)
	if len(panicked) != 0 {
		t.Error("panic noticed twice")
	}
}
