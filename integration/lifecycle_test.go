package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestRun checks what `runuml run` gives a user: the process's exact output on the right
// stream, nothing of the runtime's or the guest kernel's, and the process's exit status.
func TestRun(t *testing.T) {
	requireGuests(t)
	for _, tc := range []struct {
		name           string
		args           []string
		stdout, stderr string
		status         int
	}{
		{"echo", []string{"echo", "hello"}, "hello\n", "", 0},
		{"exit 7", []string{"sh", "-c", "exit 7"}, "", "", 7},
		{"false", []string{"false"}, "", "", 1},
		{"stderr", []string{"sh", "-c", "echo oops >&2; exit 2"}, "", "oops\n", 2},
		// The init's exit ends the container, as under runc, whatever it left running.
		{"init leaves a child", []string{"sh", "-c", "sleep 100 & echo bye"}, "bye\n", "", 0},
		{"env and cwd", []string{"sh", "-c", `echo "$PATH"; pwd; hostname`},
			strings.TrimPrefix(testPath, "PATH=") + "\n/\nruntime-test-host\n", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.newBundle(tc.args, func(s *specs.Spec) { s.Hostname = "runtime-test-host" })
			res := e.run("c1", b, nil)
			if string(res.stdout) != tc.stdout || string(res.stderr) != tc.stderr || res.status != tc.status {
				t.Errorf("run %q: stdout %q, stderr %q, status %d (%v); want %q, %q, %d",
					tc.args, res.stdout, res.stderr, res.status, res.err, tc.stdout, tc.stderr, tc.status)
			}
		})
	}
}

// TestRunKilled checks that a container killed with SIGKILL from the host exits 137, as the
// shim reports a runc container's signal death. (`sh -c 'kill -9 $$'` would not do: PID 1 of
// a pid namespace ignores signals from inside it, under runc too.)
func TestRunKilled(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sleep", "100"})
	done := make(chan result, 1)
	go func() { done <- e.run("sleeper", b, nil) }()
	e.waitStatus("sleeper", "running")
	if err := e.rc.Kill(e.ctx, "sleeper", int(unix.SIGKILL), nil); err != nil {
		t.Fatalf("kill sleeper 9: %v", err)
	}
	select {
	case res := <-done:
		if res.status != 137 || len(res.stdout) != 0 || len(res.stderr) != 0 {
			t.Errorf("killed container: status %d, stdout %q, stderr %q; want 137 and no output", res.status, res.stdout, res.stderr)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after the container was killed")
	}
}

// TestCreateStartStateDelete walks the lifecycle as containerd drives it: create with a pid
// file, state, start, the exit, delete.
func TestCreateStartStateDelete(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"sh", "-c", "read line; echo got $line; exit 4"})
	c := e.create("life", b)

	st := e.state("life")
	if st.Status != "created" || st.Pid != c.pid || st.Bundle != b.Dir || st.ID != "life" {
		t.Errorf("state after create: %+v; want status created, pid %d (the pid file's), bundle %s", st, c.pid, b.Dir)
	}
	// That pid is the one containerd waits on: runuml's monitor of the container.
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.pid)); !strings.Contains(string(cmdline), "monitor") {
		t.Errorf("pid file's pid %d is %q, not a runuml monitor", c.pid, cmdline)
	}
	list, err := e.rc.List(e.ctx)
	if err != nil || len(list) != 1 || list[0].ID != "life" || list[0].Status != "created" || list[0].Pid != c.pid {
		t.Errorf("list after create: %v, %v; want only life, created, pid %d", list, err, c.pid)
	}

	e.start(c)
	if st := e.state("life"); st.Status != "running" || st.Pid != c.pid {
		t.Errorf("state after start: status %q, pid %d; want running, %d", st.Status, st.Pid, c.pid)
	}

	feed(c.io, strings.NewReader("go\n"))
	if status := c.wait(t); status != 4 {
		t.Errorf("exit status %d, want 4", status)
	}
	if out := c.stdout.wait(waitTimeout); string(out) != "got go\n" {
		t.Errorf("stdout %q, want %q", out, "got go\n")
	}
	if st := e.state("life"); st.Status != "stopped" {
		t.Errorf("state after exit: %q, want stopped", st.Status)
	}

	if err := e.rc.Delete(e.ctx, "life", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.clearLog()
	_, err = e.rc.State(e.ctx, "life")
	e.wantErr("state after delete", err, "container does not exist")
	if list, err := e.rc.List(e.ctx); err != nil || len(list) != 0 {
		t.Errorf("list after delete: %v, %v; want none", list, err)
	}
}

// TestDeleteCreated checks that a created container that never started is deleted without
// --force, as runc does (containerd deletes tasks that failed to start).
func TestDeleteCreated(t *testing.T) {
	e := newEnv(t)
	c := e.create("never", e.newBundle([]string{"echo", "must not run"}))
	if err := e.rc.Delete(e.ctx, "never", nil); err != nil {
		t.Fatalf("delete of a created container: %v; runtime log: %s", err, e.lastLogError())
	}
	c.wait(t)
	if out := c.stdout.wait(waitTimeout); len(out) != 0 {
		t.Errorf("a deleted container that was never started wrote %q", out)
	}
}

// TestList checks list's JSON (go-runc) for several containers in several states.
func TestList(t *testing.T) {
	e := newEnv(t)
	a := e.create("a", e.newBundle([]string{"true"}))
	bc := e.create("b", e.newBundle([]string{"sleep", "100"}))
	e.start(a)
	a.wait(t)
	want := map[string]string{"a": "stopped", "b": "created"}
	list, err := e.rc.List(e.ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	got := map[string]string{}
	for _, c := range list {
		got[c.ID] = c.Status
	}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("list: %v, want %v", got, want)
	}
	for _, id := range []string{"a", "b"} {
		if err := e.rc.Delete(e.ctx, id, &runc.DeleteOpts{Force: true}); err != nil {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	bc.wait(t)
}

// TestReadonlyRootfsMountPoints checks mounts whose destination is missing from a read-only
// rootfs (`runc spec` makes root.readonly true; docker --read-only too). runc creates the
// mount point before it makes the root read-only, so the container runs, and its root stays
// read-only.
func TestReadonlyRootfsMountPoints(t *testing.T) {
	requireGuests(t)
	for _, m := range []specs.Mount{
		{Destination: "/newdir", Type: "bind", Options: []string{"rbind", "rw"}},
		{Destination: "/newtmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
	} {
		t.Run(m.Type, func(t *testing.T) {
			e := newEnv(t)
			if m.Type == "bind" {
				m.Source = e.dir
			}
			b := e.newBundle([]string{"sh", "-c", "echo hi > " + m.Destination + "/f && cat " + m.Destination +
				"/f && touch /rootfs-file 2>/dev/null || echo root read-only"},
				func(s *specs.Spec) { s.Mounts = append(s.Mounts, m) })
			res := e.run("ro", b, nil)
			if want := "hi\nroot read-only\n"; string(res.stdout) != want || res.status != 0 {
				t.Errorf("%s mount on %s, missing from a read-only rootfs: stdout %q, status %d; want %q, 0; runtime log: %s",
					m.Type, m.Destination, res.stdout, res.status, want, e.lastLogError())
			}
		})
	}
}

// TestMonitorKilled checks that a container whose monitor dies (OOM killer, a careless
// kill) is reported stopped and can be deleted, and that its guest died with the monitor.
func TestMonitorKilled(t *testing.T) {
	e := newEnv(t)
	c := e.create("orphan", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	if err := unix.Kill(c.pid, unix.SIGKILL); err != nil { // our own child: see TestMain
		t.Fatal(err)
	}
	c.wait(t)
	if st := e.state("orphan"); st.Status != "stopped" {
		t.Errorf("state after the monitor died: %q, want stopped", st.Status)
	}
	if err := e.rc.Delete(e.ctx, "orphan", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestStartShortLived starts containers whose process exits at once, as `docker run --rm
// alpine true` does: start must succeed (not time out), the status be 0. The process's exit
// races the guest's answer to start (the Exit frame could overtake Started, and start then
// waited 10 s and failed); the race is rare, so it is tried several times.
func TestStartShortLived(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"true"})
	for i := range 20 {
		id := fmt.Sprintf("short%d", i)
		c := e.create(id, b)
		began := time.Now()
		err := e.rc.Start(e.ctx, id)
		if err != nil {
			t.Errorf("try %d: start of a process that exits at once failed after %v: %v", i, time.Since(began).Round(time.Millisecond), err)
		}
		if status := c.wait(t); status != 0 {
			t.Errorf("try %d: exit status %d, want 0", i, status)
		}
		if err := e.rc.Delete(e.ctx, id, nil); err != nil {
			t.Fatalf("try %d: delete: %v", i, err)
		}
		if err != nil {
			break // each failure costs the start timeout
		}
	}
}
