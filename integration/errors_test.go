package integration

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestBadBundle checks that create and run refuse a bad bundle with a clear error and exit
// status 1, write no pid file and leave nothing behind (the env checks the host after).
func TestBadBundle(t *testing.T) {
	requireGuests(t)
	for _, tc := range []struct {
		name string
		id   string
		edit func(e *env, b *bundle) // breaks the bundle
		want string
	}{
		{"missing config.json", "bad", func(e *env, b *bundle) { remove(e, filepath.Join(b.Dir, "config.json")) },
			"config.json not found"},
		{"invalid JSON", "bad", func(e *env, b *bundle) { write(e, filepath.Join(b.Dir, "config.json"), `{"ociVersion": `) },
			"config.json"},
		{"missing rootfs", "bad", func(e *env, b *bundle) { remove(e, b.Rootfs) }, "rootfs"},
		{"no process args", "bad", func(e *env, b *bundle) { b.Spec.Process.Args = nil; b.save(e) },
			"process.args"},
		// Found only inside the guest, after it booted: the failed guest must go too.
		{"unknown executable", "bad", func(e *env, b *bundle) { b.Spec.Process.Args = []string{"no-such-cmd"}; b.save(e) },
			"executable file not found"},
		// Found by the jail, before the kernel runs.
		{"missing bind source", "bad", func(e *env, b *bundle) {
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/tmp", Type: "bind",
				Source: filepath.Join(e.dir, "no-such-dir"), Options: []string{"rbind"}})
			b.save(e)
		}, "no-such-dir"},
		{"id with a slash", "../escape", func(*env, *bundle) {}, "invalid container id format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.newBundle([]string{"echo", "must not run"})
			tc.edit(e, b)

			// As containerd's shim: go-runc create with pipes and a pid file.
			pio, err := runc.NewPipeIO(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer pio.Close()
			stdout := newCapture(pio.Stdout())
			pidFile := filepath.Join(e.dir, "pid")
			err = e.rc.Create(e.ctx, tc.id, b.Dir, &runc.CreateOpts{IO: pio, PidFile: pidFile})
			e.wantErr("create", err, tc.want)
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed create left a pid file (%v)", err)
			}
			if out := stdout.wait(waitTimeout); len(out) != 0 {
				t.Errorf("failed create wrote %q on the container's stdout", out)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "escape")); err == nil {
				t.Errorf("id %q made %s outside --root", tc.id, filepath.Join(e.dir, "escape"))
			}
			if tc.id == "bad" {
				e.clearLog()
				_, err = e.rc.State(e.ctx, tc.id)
				e.wantErr("state after a failed create", err, "container does not exist")
			}

			// As a shell user: exit status 1 and the error on stderr.
			e.cliFails(tc.want, "create", "--bundle", b.Dir, "--pid-file", pidFile, tc.id)
			e.cliFails(tc.want, "run", "--bundle", b.Dir, tc.id)
		})
	}
}

// TestUnknownID checks every verb on an id that was never created: runc's "container does
// not exist", which containerd matches, and exit status 1; delete --force succeeds, as
// with runc.
func TestUnknownID(t *testing.T) {
	e := newEnv(t)
	const want = "container does not exist"
	for _, tc := range []struct {
		verb string
		call func() error
		args []string
	}{
		{"state", func() error { _, err := e.rc.State(e.ctx, "ghost"); return err }, []string{"state", "ghost"}},
		{"start", func() error { return e.rc.Start(e.ctx, "ghost") }, []string{"start", "ghost"}},
		{"kill", func() error { return e.rc.Kill(e.ctx, "ghost", int(unix.SIGTERM), nil) }, []string{"kill", "ghost", "15"}},
		{"kill --all", func() error { return e.rc.Kill(e.ctx, "ghost", int(unix.SIGKILL), &runc.KillOpts{All: true}) },
			[]string{"kill", "--all", "ghost", "9"}},
		{"delete", func() error { return e.rc.Delete(e.ctx, "ghost", nil) }, []string{"delete", "ghost"}},
	} {
		e.clearLog()
		e.wantErr(tc.verb, tc.call(), want)
		e.cliFails(want, tc.args...)
	}
	if err := e.rc.Delete(e.ctx, "ghost", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete --force of an unknown container: %v; want success, as runc", err)
	}
}

// TestDuplicateID checks that a second create with a taken id fails and leaves the first
// container as it was: still created, same pid, and it still runs.
func TestDuplicateID(t *testing.T) {
	e := newEnv(t)
	c := e.create("dup", e.newBundle([]string{"echo", "first"}))
	other := e.newBundle([]string{"echo", "second"})
	const want = "container with given ID already exists"

	e.clearLog()
	err := e.rc.Create(e.ctx, "dup", other.Dir, &runc.CreateOpts{PidFile: filepath.Join(e.dir, "dup2.pid")})
	e.wantErr("second create", err, want)
	e.cliFails(want, "create", "--bundle", other.Dir, "dup")
	e.cliFails(want, "run", "--bundle", other.Dir, "dup")

	if st := e.state("dup"); st.Status != "created" || st.Pid != c.pid || st.Bundle != c.bundle {
		t.Errorf("first container after the duplicates: %+v; want created, pid %d", st, c.pid)
	}
	e.start(c)
	if status := c.wait(t); status != 0 {
		t.Errorf("first container exited %d, want 0", status)
	}
	if out := c.stdout.wait(waitTimeout); string(out) != "first\n" {
		t.Errorf("first container wrote %q, want %q", out, "first\n")
	}
	if err := e.rc.Delete(e.ctx, "dup", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestRunningContainerRefuses checks what a running container refuses, each refusal with
// runc's words and exit status 1, and that it keeps running through them; delete --force
// then ends it.
func TestRunningContainerRefuses(t *testing.T) {
	e := newEnv(t)
	c := e.create("busy", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	for _, tc := range []struct {
		name string
		call func() error
		args []string
		want string
	}{
		{"start again", func() error { return e.rc.Start(e.ctx, "busy") }, []string{"start", "busy"},
			"cannot start an already running container"},
		{"delete without force", func() error { return e.rc.Delete(e.ctx, "busy", nil) }, []string{"delete", "busy"},
			"cannot delete container busy that is not stopped"},
		// go-runc sends signals as numbers; names come from users.
		{"signal name", nil, []string{"kill", "busy", "FOO"}, "invalid signal"},
		{"signal name with SIG", nil, []string{"kill", "busy", "SIGFOO"}, "invalid signal"},
		{"signal number", func() error { return e.rc.Kill(e.ctx, "busy", 65, nil) }, []string{"kill", "busy", "65"},
			"invalid signal"},
	} {
		e.clearLog()
		if tc.call != nil {
			e.wantErr(tc.name, tc.call(), tc.want)
		}
		e.cliFails(tc.want, tc.args...)
		if st := e.state("busy"); st.Status != "running" || st.Pid != c.pid {
			t.Errorf("after %s: status %q, pid %d; want still running as %d", tc.name, st.Status, st.Pid, c.pid)
		}
	}
	if err := e.rc.Delete(e.ctx, "busy", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatalf("delete --force of a running container: %v", err)
	}
	if status := c.wait(t); status != 137 {
		t.Errorf("force-deleted container exited %d, want 137", status)
	}
	e.clearLog()
	_, err := e.rc.State(e.ctx, "busy")
	e.wantErr("state after delete --force", err, "container does not exist")
}

// TestStoppedContainerRefuses checks start and kill of a container whose process has
// exited: runc's words ("container not running" is what containerd matches), exit status 1.
func TestStoppedContainerRefuses(t *testing.T) {
	e := newEnv(t)
	c := e.create("done", e.newBundle([]string{"true"}))
	e.start(c)
	c.wait(t)
	e.waitStatus("done", "stopped")

	e.clearLog()
	e.wantErr("start", e.rc.Start(e.ctx, "done"), "cannot start a container that has stopped")
	e.cliFails("cannot start a container that has stopped", "start", "done")
	e.clearLog()
	e.wantErr("kill", e.rc.Kill(e.ctx, "done", int(unix.SIGTERM), nil), "container not running")
	e.cliFails("container not running", "kill", "done", "TERM")

	if err := e.rc.Delete(e.ctx, "done", nil); err != nil {
		t.Errorf("delete of a stopped container: %v", err)
	}
}

func remove(e *env, path string) {
	if err := os.RemoveAll(path); err != nil {
		e.t.Fatal(err)
	}
}

func write(e *env, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}
