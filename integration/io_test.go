package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStdinRoundTrip pipes 10 MiB of random bytes (every byte value) into cat and checks
// they come back unchanged, on the foreground path (run) and containerd's (create, start).
func TestStdinRoundTrip(t *testing.T) {
	requireGuests(t)
	data := make([]byte, 10<<20)
	rand.Read(data)
	for _, tc := range []struct {
		name string
		run  func(e *env, b *bundle) result
	}{
		{"run", func(e *env, b *bundle) result { return e.run("cat", b, bytes.NewReader(data)) }},
		{"create start", func(e *env, b *bundle) result {
			c := e.create("cat", b)
			e.start(c)
			feed(c.io, bytes.NewReader(data))
			res := result{status: c.wait(e.t)}
			res.stdout, res.stderr = c.stdout.wait(waitTimeout), c.stderr.wait(waitTimeout)
			if err := e.rc.Delete(e.ctx, "cat", nil); err != nil {
				e.t.Errorf("delete: %v", err)
			}
			return res
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res := tc.run(e, e.newBundle([]string{"cat"}))
			if res.status != 0 || len(res.stderr) != 0 {
				t.Errorf("cat: status %d, stderr %q; want 0 and none", res.status, res.stderr)
			}
			if !bytes.Equal(res.stdout, data) {
				t.Errorf("cat returned %d bytes, first difference at byte %d; want the %d bytes sent",
					len(res.stdout), firstDiff(res.stdout, data), len(data))
			}
		})
	}
}

// TestStdinNotRead checks the stdin path's flow control: a process that never reads its
// stdin still gets signals while the input backs up behind it (16 MiB: more than the pipe,
// the window and the tty hold), and one that stops reading after a little (head) exits
// normally while the rest of its input is dropped.
func TestStdinNotRead(t *testing.T) {
	requireGuests(t)
	data := make([]byte, 16<<20)
	rand.Read(data)
	t.Run("signal", func(t *testing.T) {
		e := newEnv(t)
		c := e.create("unread", e.newBundle([]string{"sh", "-c",
			`trap "echo got TERM; exit 3" TERM; echo ready; while true; do sleep 0.1; done`}))
		e.start(c)
		feed(c.io, bytes.NewReader(data))
		if !c.stdout.waitFor("ready\n", waitTimeout) {
			t.Fatalf("the container never said ready; stdout %q", c.stdout)
		}
		time.Sleep(500 * time.Millisecond) // let the input back up
		if err := e.rc.Kill(e.ctx, "unread", int(unix.SIGTERM), nil); err != nil {
			t.Fatalf("kill unread 15: %v", err)
		}
		if status := c.wait(t); status != 3 {
			t.Errorf("exit status %d, want 3 (the trap's)", status)
		}
		if out := c.stdout.wait(waitTimeout); string(out) != "ready\ngot TERM\n" {
			t.Errorf("stdout %q, want %q", out, "ready\ngot TERM\n")
		}
		if err := e.rc.Delete(e.ctx, "unread", nil); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
	t.Run("stops reading", func(t *testing.T) {
		e := newEnv(t)
		res := e.run("head", e.newBundle([]string{"head", "-c", "100000"}), bytes.NewReader(data))
		if res.status != 0 || len(res.stderr) != 0 {
			t.Errorf("head: status %d (%v), stderr %q; want 0 and none", res.status, res.err, res.stderr)
		}
		if !bytes.Equal(res.stdout, data[:100000]) {
			t.Errorf("head returned %d bytes, first difference at byte %d; want the first 100000 sent",
				len(res.stdout), firstDiff(res.stdout, data[:100000]))
		}
	})
}

// TestStdoutStderrSeparate checks that each stream's bytes arrive on that stream only, in
// order, however they interleave in the guest, and that binary output passes unchanged.
func TestStdoutStderrSeparate(t *testing.T) {
	requireGuests(t)
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var seqOut, seqErr strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&seqOut, "out %d\n", i)
		fmt.Fprintf(&seqErr, "err %d\n", i)
	}
	for _, tc := range []struct {
		name           string
		script         string
		stdout, stderr string
	}{
		{"alternating lines", "echo out1; echo err1 >&2; echo out2; echo err2 >&2",
			"out1\nout2\n", "err1\nerr2\n"},
		{"both streams busy", "for i in $(seq 20000); do echo out $i; echo err $i >&2; done",
			seqOut.String(), seqErr.String()},
		{"binary stdout", "cat /bin/busybox; echo done >&2", string(busybox), "done\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.run("streams", e.newBundle([]string{"sh", "-c", tc.script}), nil)
			if res.status != 0 {
				t.Errorf("status %d (%v), want 0", res.status, res.err)
			}
			if string(res.stdout) != tc.stdout {
				t.Errorf("stdout: %d bytes, first difference at byte %d: %q; want %d bytes",
					len(res.stdout), firstDiff(res.stdout, []byte(tc.stdout)), head(res.stdout), len(tc.stdout))
			}
			if string(res.stderr) != tc.stderr {
				t.Errorf("stderr: %d bytes, first difference at byte %d: %q; want %d bytes",
					len(res.stderr), firstDiff(res.stderr, []byte(tc.stderr)), head(res.stderr), len(tc.stderr))
			}
		})
	}
}

// firstDiff returns the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func head(b []byte) []byte { return b[:min(len(b), 200)] }
