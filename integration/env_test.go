package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
)

// Bounds on waiting, generous for a loaded 2-core machine; a guest boots in ~0.1-0.3 s.
const (
	callTimeout = 90 * time.Second // any one test's runtime calls
	waitTimeout = 20 * time.Second // a container reaching a state or exiting
)

// env is one test's runtime setup: a --root and a JSON log of its own, and a go-runc
// client configured as containerd's shim configures it.
type env struct {
	t        *testing.T
	dir      string // the test's directory under suiteDir
	root     string // --root
	tag      string // a path fragment naming root, to find our guests' mounts by
	log      string // --log, read for errors as the shim reads it
	rc       *runc.Runc
	ctx      context.Context
	nbundles int
}

var envCount atomic.Int32

// newEnv prepares a test, or skips it when the host cannot run guests. After the test it
// checks that nothing is left behind, then removes whatever is.
func newEnv(t *testing.T) *env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	// Short paths: the monitor's control socket lives under --root (sun_path is 108 bytes).
	name := fmt.Sprintf("%02d", envCount.Add(1))
	e := &env{t: t, dir: filepath.Join(suiteDir, name)}
	e.root = filepath.Join(e.dir, "r")
	e.tag = filepath.Base(suiteDir) + "/" + name + "/r/"
	e.log = filepath.Join(e.dir, "log.json")
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.rc = &runc.Runc{Command: runumlBin, Root: e.root, Log: e.log, LogFormat: runc.JSON}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	e.ctx = ctx
	// Cleanups run last registered first: check, then tidy, then cancel.
	t.Cleanup(cancel)
	t.Cleanup(e.tidy)
	t.Cleanup(e.checkNothingLeft)
	return e
}

// result is what a user sees of a container run in the foreground.
type result struct {
	stdout, stderr []byte
	status         int
	err            error // go-runc's error; set for any status but 0
}

// run runs the bundle as container id with `runuml run` through go-runc, feeding it stdin
// (nil: empty), and returns its output and exit status. It may run on any goroutine.
func (e *env) run(id string, b *bundle, stdin io.Reader) result {
	return e.startRun(id, b, stdin).wait()
}

// running is a container being run in the foreground by `runuml run`.
type running struct {
	pid            int // of runuml run
	io             runc.IO
	stdout, stderr *capture
	res            result
	done           chan struct{} // closed when runuml run has exited
}

// startRun starts `runuml run` for the bundle through go-runc, with pipes for stdio.
func (e *env) startRun(id string, b *bundle, stdin io.Reader) *running {
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		r := &running{res: result{err: err, status: -1}, done: make(chan struct{})}
		close(r.done)
		return r
	}
	r := &running{io: pio, stdout: newCapture(pio.Stdout()), stderr: newCapture(pio.Stderr()), done: make(chan struct{})}
	started := make(chan int, 1)
	go func() {
		r.res.status, r.res.err = e.rc.Run(e.ctx, id, b.Dir, &runc.CreateOpts{IO: pio, Started: started})
		close(r.done)
	}()
	r.pid = <-started
	// Unlike Create, go-runc's Run keeps our copies of the output pipes' write ends open;
	// close them once runuml has its own, or reading would never reach EOF.
	pio.(runc.StartCloser).CloseAfterStart()
	feed(pio, stdin)
	return r
}

// wait waits for runuml run to exit and returns what the container gave.
func (r *running) wait() result {
	<-r.done
	if r.io != nil {
		r.res.stdout, r.res.stderr = r.stdout.wait(waitTimeout), r.stderr.wait(waitTimeout)
		r.io.Close()
	}
	return r.res
}

// feed copies r (nil: nothing) to the container's stdin, then closes it, in the background.
func feed(pio runc.IO, r io.Reader) {
	go func() {
		w := pio.Stdin()
		if r != nil {
			io.Copy(w, r) // fails only if the process exits without reading all of it
		}
		w.Close()
	}()
}

// ctr is a container made with `runuml create`, as containerd's shim makes it.
type ctr struct {
	id             string
	bundle         string
	pid            int // from the pid file: the monitor, the container's pid for containerd
	io             runc.IO
	stdout, stderr *capture
	exit           <-chan int // the monitor's exit status: the container's
}

// create creates the bundle as container id through go-runc with pipes for stdio and a pid
// file, and fails the test if that fails.
func (e *env) create(id string, b *bundle) *ctr {
	e.t.Helper()
	c, err := e.tryCreate(id, b)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// tryCreate is create for any goroutine: it returns the error instead.
func (e *env) tryCreate(id string, b *bundle) (*ctr, error) {
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { pio.Close() })
	pidFile := filepath.Join(e.dir, id+".pid")
	if err := e.rc.Create(e.ctx, id, b.Dir, &runc.CreateOpts{IO: pio, PidFile: pidFile}); err != nil {
		return nil, fmt.Errorf("create %s: %v; runtime log: %s", id, err, e.lastLogError())
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("create %s succeeded but: %v", id, err)
	}
	return &ctr{id: id, bundle: b.Dir, pid: pid, io: pio, stdout: newCapture(pio.Stdout()),
		stderr: newCapture(pio.Stderr()), exit: reap(pid)}, nil
}

// start starts a created container and fails the test if that fails.
func (e *env) start(c *ctr) {
	e.t.Helper()
	if err := e.rc.Start(e.ctx, c.id); err != nil {
		e.t.Fatalf("start %s: %v; runtime log: %s", c.id, err, e.lastLogError())
	}
}

// wait returns the container's exit status once its monitor has exited.
func (c *ctr) wait(t *testing.T) int {
	t.Helper()
	select {
	case status := <-c.exit:
		return status
	case <-time.After(waitTimeout):
		t.Fatalf("container %s did not exit within %v", c.id, waitTimeout)
		return -1
	}
}

// state returns the container's state and fails the test if `runuml state` fails.
func (e *env) state(id string) *runc.Container {
	e.t.Helper()
	st, err := e.rc.State(e.ctx, id)
	if err != nil {
		e.t.Fatalf("state %s: %v", id, err)
	}
	return st
}

// waitStatus waits until `runuml state` reports status for the container.
func (e *env) waitStatus(id, status string) {
	e.t.Helper()
	var last string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := e.rc.State(e.ctx, id)
		if err == nil && st.Status == status {
			return
		}
		last = fmt.Sprint(err)
		if st != nil {
			last = st.Status
		}
	}
	e.t.Fatalf("container %s never reached status %q; last: %s", id, status, last)
}

// cli runs the runuml binary with the global flags go-runc passes and args, stdin empty,
// for checks of what a shell user sees: stdout, stderr and the exit status.
func (e *env) cli(args ...string) (stdout, stderr string, status int) {
	e.t.Helper()
	return e.cliEnv(nil, args...)
}

// cliEnv is cli with env added to runuml's environment, as for settings read by the monitor
// (RUNUML_INIT, RUNUML_BOOT_TIMEOUT). Output goes through files, not pipes: a created
// container's monitor keeps create's stdio open for the container's life.
func (e *env) cliEnv(env []string, args ...string) (stdout, stderr string, status int) {
	e.t.Helper()
	global := []string{"--root", e.root, "--log", e.log, "--log-format", "json"}
	cmd := exec.CommandContext(e.ctx, runumlBin, append(global, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, errOut := e.tempFile(), e.tempFile()
	cmd.Stdout, cmd.Stderr = out, errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("runuml %s: %v", strings.Join(args, " "), err)
	}
	o, _ := os.ReadFile(out.Name())
	eo, _ := os.ReadFile(errOut.Name())
	return string(o), string(eo), status
}

// tempFile returns a new file in the test's directory, closed after the test.
func (e *env) tempFile() *os.File {
	e.t.Helper()
	f, err := os.CreateTemp(e.dir, "out")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Close() })
	return f
}

// cliFails runs runuml with args and checks it fails as runc does: exit status 1, nothing
// on stdout, and an error on stderr that says want.
func (e *env) cliFails(want string, args ...string) {
	e.t.Helper()
	stdout, stderr, status := e.cli(args...)
	if status != 1 || stdout != "" || !strings.Contains(stderr, want) {
		e.t.Errorf("runuml %s: status %d, stdout %q, stderr %q; want status 1, no stdout, stderr saying %q",
			strings.Join(args, " "), status, stdout, stderr, want)
	}
}

// wantErr checks a failed go-runc call as containerd's shim sees it: an error, and the
// runtime's last error in its log saying want.
func (e *env) wantErr(call string, err error, want string) {
	e.t.Helper()
	if err == nil {
		e.t.Errorf("%s succeeded; want an error saying %q", call, want)
		return
	}
	if msg := e.lastLogError(); !strings.Contains(msg, want) {
		e.t.Errorf("%s: last error in the runtime log is %q, want it to say %q (go-runc: %v)", call, msg, want, err)
	}
}

// clearLog empties the runtime log, so the next error read from it is the next call's.
func (e *env) clearLog() {
	if err := os.Truncate(e.log, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
}

// lastLogError returns the message of the last error in the JSON log, as containerd's shim
// reads it to tell the user why a runtime call failed.
func (e *env) lastLogError() string {
	f, err := os.Open(e.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	var msg string
	s := bufio.NewScanner(f)
	for s.Scan() {
		var entry struct{ Level, Msg string }
		if json.Unmarshal(s.Bytes(), &entry) == nil && entry.Level == "error" {
			msg = entry.Msg
		}
	}
	return msg
}
