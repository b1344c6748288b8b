package integration

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execProc is a process as containerd's shim hands it to `exec --process`.
func execProc(args ...string) specs.Process {
	return specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin"}}
}

// execRun execs p into container id through go-runc in the foreground, with pipes for stdio,
// and returns its stdout, stderr and exit status.
func (e *env) execRun(id string, p specs.Process, stdin io.Reader) (string, string, int, error) {
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		return "", "", 0, err
	}
	defer pio.Close()
	out, errOut := newCapture(pio.Stdout()), newCapture(pio.Stderr())
	if stdin != nil {
		go feed(pio, stdin)
	} else {
		pio.Stdin().Close()
	}
	err = e.rc.Exec(e.ctx, id, p, &runc.ExecOpts{IO: pio})
	status := 0
	var ee *runc.ExitError
	if errors.As(err, &ee) {
		status, err = ee.Status, nil
	}
	// The streams end once runuml exec has exited (go-runc closed our copies of their write
	// ends); closing the pipes before that dropped output not yet copied, on a loaded host.
	stdout, stderr := out.wait(waitTimeout), errOut.wait(waitTimeout)
	pio.Close()
	return string(stdout), string(stderr), status, err
}

// TestExec checks an exec'd process's output, stderr, exit status, user, env and cwd.
func TestExec(t *testing.T) {
	e := newEnv(t)
	c := e.create("ex", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	p := execProc("sh", "-c", `echo out; echo err >&2; id -u; id -g; echo $FOO; pwd; exit 4`)
	p.Env = append(p.Env, "FOO=bar")
	p.Cwd, p.User = "/bin", specs.User{UID: 1000, GID: 1001}
	out, errOut, status, err := e.execRun("ex", p, nil)
	if err != nil || status != 4 || out != "out\n1000\n1001\nbar\n/bin\n" || errOut != "err\n" {
		t.Errorf("exec: err %v, status %d, stdout %q, stderr %q; want 4, %q, %q", err, status, out,
			errOut, "out\n1000\n1001\nbar\n/bin\n", "err\n")
	}
	if out, _, _, err := e.execRun("ex", execProc("cat"), strings.NewReader("piped in\n")); err != nil || out != "piped in\n" {
		t.Errorf("exec cat: %v, stdout %q", err, out)
	}
	e.rc.Kill(e.ctx, "ex", 9, nil)
	c.wait(t)
	e.waitStatus("ex", "stopped")
	// A failed exec is runuml exiting 1 with the reason in its log, which is how the shim
	// tells it from a process that exits 1.
	for id, want := range map[string]string{"ex": "container not running", "nosuch": "does not exist"} {
		e.clearLog()
		err := e.rc.Exec(e.ctx, id, execProc("true"), &runc.ExecOpts{})
		e.wantErr("exec into "+id, err, want)
	}
	if err := e.rc.Delete(e.ctx, "ex", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestExecParallel runs 20 execs at once in one container: all complete with their output.
func TestExecParallel(t *testing.T) {
	e := newEnv(t)
	c := e.create("par", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("exec %d\n", i)
			out, _, status, err := e.execRun("par", execProc("echo", "exec", fmt.Sprint(i)), nil)
			if err != nil || status != 0 || out != want {
				errs <- fmt.Errorf("exec %d: err %v, status %d, stdout %q", i, err, status, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := e.rc.Delete(e.ctx, "par", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete: %v", err)
	}
	c.wait(t)
}

// TestExecDetached checks `exec --detach --pid-file` as the shim uses it: the pid file names
// a live process that exits with the exec'd process's status.
func TestExecDetached(t *testing.T) {
	e := newEnv(t)
	c := e.create("det", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	pio.Stdin().Close()
	out := newCapture(pio.Stdout())
	pidFile := filepath.Join(e.dir, "det-exec.pid")
	p := execProc("sh", "-c", "echo detached; sleep 0.3; exit 5")
	if err := e.rc.Exec(e.ctx, "det", p, &runc.ExecOpts{IO: pio, PidFile: pidFile, Detach: true}); err != nil {
		t.Fatalf("exec --detach: %v; runtime log: %s", err, e.lastLogError())
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	exited := reap(pid)
	select {
	case status := <-exited:
		if status != 5 {
			t.Errorf("the process in the pid file exited %d, want 5", status)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("the process in the pid file (%d) did not exit", pid)
	}
	pio.Close()
	if got := out.wait(waitTimeout); string(got) != "detached\n" {
		t.Errorf("stdout %q, want %q", got, "detached\n")
	}
	if err := e.rc.Delete(e.ctx, "det", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete: %v", err)
	}
	c.wait(t)
}

// TestPs checks that `ps` lists a sleep started by exec: as a table of the guest's processes,
// and in runc's JSON as the host pids containerd knows (the container's and the exec's).
func TestPs(t *testing.T) {
	e := newEnv(t)
	c := e.create("ps", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	// With IO, as the shim passes it: without, go-runc reads the process's output to its end.
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	pidFile := filepath.Join(e.dir, "ps-exec.pid")
	if err := e.rc.Exec(e.ctx, "ps", execProc("sleep", "77"), &runc.ExecOpts{IO: pio, Detach: true, PidFile: pidFile}); err != nil {
		t.Fatalf("exec --detach sleep 77: %v; log: %s", err, e.lastLogError())
	}
	execPid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The host pids that stand for the container's processes, as containerd knows them.
	pids, err := e.rc.Ps(e.ctx, "ps")
	if err != nil || len(pids) != 2 || pids[0] != c.pid || pids[1] != execPid {
		t.Errorf("ps --format json: %v %v; want the container's pid %d and the exec's %d", pids, err, c.pid, execPid)
	}
	stdout, _, status := e.cli("ps", "ps")
	if status != 0 || !strings.Contains(stdout, "sleep 77") || !strings.Contains(stdout, "sleep 100") {
		t.Errorf("ps table: status %d, %q", status, stdout)
	}
	if err := e.rc.Delete(e.ctx, "ps", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete: %v", err)
	}
	c.wait(t)
	e.cliFails("does not exist", "ps", "ps")
}
