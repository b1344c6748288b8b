package integration

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"testing"
	"time"
)

// TestFreedMemoryReused writes a file of 48 MiB into the guest's /dev/shm (guest RAM), checks
// what reads back and removes it; then, once the guest has given those freed pages back to the
// host (kernel patch 0011 reports free blocks every 2 s and punches them out of the memory
// file) and the monitor and the agent have paged their code out (6 and 2 s after start), does
// it again with other bytes: the pages the guest gets back must hold what it writes, and the
// container must go on running and exec'ing.
func TestFreedMemoryReused(t *testing.T) {
	e := newEnv(t)
	c := e.create("mem", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	const size = 48 << 20
	for i, word := range []string{"runuml", "reused pages"} {
		if i > 0 {
			time.Sleep(8 * time.Second)
		}
		data := bytes.Repeat([]byte(word+"\n"), size/len(word+"\n")+1)[:size]
		want := fmt.Sprintf("%x  -\n", md5.Sum(data))
		script := fmt.Sprintf("yes '%s' | head -c %d > /dev/shm/f && md5sum < /dev/shm/f && rm /dev/shm/f", word, size)
		out, errOut, status, err := e.execRun("mem", execProc("sh", "-c", script), nil)
		if err != nil || status != 0 || out != want {
			t.Fatalf("round %d: err %v, status %d, stdout %q, stderr %q; want %q", i, err, status, out, errOut, want)
		}
	}
	e.rc.Kill(e.ctx, "mem", 9, nil)
	c.wait(t)
	if err := e.rc.Delete(e.ctx, "mem", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}
