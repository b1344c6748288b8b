package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// The fault tests break one piece of a container's machinery and check what a user sees:
// a clear error or the container's true status in `state`, no CLI call that hangs, and
// nothing left on the host (newEnv checks that after each test). TestMonitorKilled
// (lifecycle_test.go) is the fault "monitor killed".

// TestFaultKernelKilled kills the guest kernel from the host (OOM killer, a careless kill):
// the monitor reports the container exited with 255, the status of a guest that died
// without reporting one, and says why in the runtime log.
func TestFaultKernelKilled(t *testing.T) {
	e := newEnv(t)
	c := e.create("kk", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	// The monitor's only child is the jail process, which exec'd the kernel.
	kernel := children(c.pid)
	if len(kernel) != 1 {
		t.Fatalf("monitor %d has children %v; want the guest kernel alone", c.pid, kernel)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kernel[0])); !bytes.HasPrefix(cmdline, []byte("linux\x00")) {
		t.Fatalf("monitor's child %d is %q, not the guest kernel", kernel[0], cmdline)
	}
	unix.Kill(kernel[0], unix.SIGKILL)
	if status := c.wait(t); status != 255 {
		t.Errorf("container whose kernel was killed exited %d, want 255", status)
	}
	if st := e.state("kk"); st.Status != "stopped" {
		t.Errorf("state after the kernel was killed: %q, want stopped", st.Status)
	}
	if msg := e.lastLogError(); !strings.Contains(msg, "guest ended without reporting an exit status") || !strings.Contains(msg, "kernel log:") {
		t.Errorf("runtime log says %q; want why the container ended and the kernel log's tail", msg)
	}
	if err := e.rc.Delete(e.ctx, "kk", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestFaultBootTimeout: a guest that does not boot in time (here its agent never speaks)
// fails create with the kernel log's tail, within the boot timeout (RUNUML_BOOT_TIMEOUT).
func TestFaultBootTimeout(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"true"})
	began := time.Now()
	_, stderr, status := e.cliEnv([]string{"RUNUML_INIT=" + fakeAgent(t, "hang"), "RUNUML_BOOT_TIMEOUT=2s"},
		"create", "--bundle", b.Dir, "slow")
	took := time.Since(began)
	if status != 1 || !strings.Contains(stderr, "guest did not boot within 2s; kernel log:") {
		t.Errorf("create of a guest that never boots: status %d, stderr %q; want 1 and the boot timeout", status, stderr)
	}
	if took > 15*time.Second {
		t.Errorf("create took %v with a boot timeout of 2s", took.Round(time.Millisecond))
	}
	e.wantNoContainer("slow")
}

// TestFaultAgentCrash: an agent that dies, or stops answering, hangs no CLI call.
func TestFaultAgentCrash(t *testing.T) {
	requireGuests(t)
	// The agent exits at once: the guest kernel panics ("Attempted to kill init") and would
	// spin; the monitor sees the panic in the kernel log and ends the guest, so create fails
	// at once (not at the boot timeout of 20 s) with the panic in the error.
	t.Run("exits at boot", func(t *testing.T) {
		e := newEnv(t)
		b := e.newBundle([]string{"true"})
		began := time.Now()
		_, stderr, status := e.cliEnv([]string{"RUNUML_INIT=" + fakeAgent(t, "exit"), "RUNUML_BOOT_TIMEOUT=20s"},
			"create", "--bundle", b.Dir, "crash")
		if status != 1 || !strings.Contains(stderr, "guest exited while booting") || !strings.Contains(stderr, "Attempted to kill init") {
			t.Errorf("create with an agent that exits: status %d, stderr %q; want 1 and the kernel's panic", status, stderr)
		}
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("create with an agent that exits took %v", took.Round(time.Millisecond))
		}
		e.wantNoContainer("crash")
	})
	// An agent binary the kernel cannot run.
	t.Run("not executable", func(t *testing.T) {
		e := newEnv(t)
		b := e.newBundle([]string{"true"})
		bad := filepath.Join(e.dir, "not-an-agent")
		write(e, bad, "#!/nonexistent\n")
		os.Chmod(bad, 0o755)
		_, stderr, status := e.cliEnv([]string{"RUNUML_INIT=" + bad, "RUNUML_BOOT_TIMEOUT=20s"},
			"create", "--bundle", b.Dir, "crash")
		if status != 1 || !strings.Contains(stderr, "Requested init /runuml/init failed") {
			t.Errorf("create with an agent that cannot run: status %d, stderr %q; want 1 and the kernel's panic", status, stderr)
		}
		e.wantNoContainer("crash")
	})
	// The agent reports the container created, then never answers: start fails in bounded
	// time, and kill 9 ends the guest from the host (137).
	t.Run("mute after create", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		c := e.createEnv([]string{"RUNUML_INIT=" + fakeAgent(t, "mute")}, "mute", e.newBundle([]string{"true"}))
		began := time.Now()
		err := e.rc.Start(e.ctx, "mute")
		if took := time.Since(began); err == nil || took > 20*time.Second {
			t.Errorf("start with a mute agent: %v after %v; want an error within the monitor's call deadline", err, took.Round(time.Millisecond))
		}
		e.killAndDelete(c, 137)
	})
	// The agent starts the container, then never answers: exec fails in bounded time.
	t.Run("mute after start", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		c := e.createEnv([]string{"RUNUML_INIT=" + fakeAgent(t, "noexec")}, "noexec", e.newBundle([]string{"true"}))
		e.start(c)
		began := time.Now()
		_, stderr, status := e.cli("exec", "noexec", "true")
		if took := time.Since(began); status != 1 || !strings.Contains(stderr, "did not start the process") || took > 25*time.Second {
			t.Errorf("exec with a mute agent: status %d after %v, stderr %q; want 1 and a timeout within the call deadline",
				status, took.Round(time.Millisecond), stderr)
		}
		e.killAndDelete(c, 137)
	})
	// The agent crashes after create: the guest panics (see "exits at boot") and is ended,
	// so the container exits 255, the status of a guest that did not report one; start then
	// says it has stopped.
	t.Run("exits after create", func(t *testing.T) {
		e := newEnv(t)
		c := e.createEnv([]string{"RUNUML_INIT=" + fakeAgent(t, "readyexit")}, "gone", e.newBundle([]string{"true"}))
		if status := c.wait(t); status != 255 {
			t.Errorf("container whose agent died exited %d, want 255", status)
		}
		if st := e.state("gone"); st.Status != "stopped" {
			t.Errorf("state after the agent died: %q, want stopped", st.Status)
		}
		e.clearLog()
		e.wantErr("start", e.rc.Start(e.ctx, "gone"), "cannot start a container that has stopped")
		if err := e.rc.Delete(e.ctx, "gone", nil); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
}

// TestFaultMissingKernel: a kernel path that does not exist is a clear error, exit 1, and
// no pid file.
func TestFaultMissingKernel(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"true"})
	const want = "guest kernel /nonexistent: not an executable file"
	pidFile := filepath.Join(e.dir, "pid")
	e.cliFails(want, "--kernel", "/nonexistent", "create", "--bundle", b.Dir, "--pid-file", pidFile, "nok")
	e.cliFails(want, "--kernel", "/nonexistent", "run", "--bundle", b.Dir, "nok")
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed create left a pid file (%v)", err)
	}
	e.wantNoContainer("nok")
}

// TestFaultFullDisk puts --root on a 64 KiB tmpfs filled to a few points: create either
// fails with "no space left on device" and leaves no state dir, or works as usual.
func TestFaultFullDisk(t *testing.T) {
	requireGuests(t)
	for _, free := range []int{0, 8, 16, 24} { // KiB
		t.Run(fmt.Sprintf("%dKiB free", free), func(t *testing.T) {
			e := newEnv(t)
			b := e.newBundle([]string{"echo", "ran"})
			if err := os.MkdirAll(e.root, 0o711); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("tmpfs", e.root, "tmpfs", 0, "size=64k,mode=0711"); err != nil {
				t.Fatal(err)
			}
			// Runs before newEnv's check, whose leftovers include mounts under the root.
			t.Cleanup(func() { unix.Unmount(e.root, unix.MNT_DETACH) })
			fill := filepath.Join(e.root, "fill")
			write(e, fill, "")
			if err := unix.Fallocate(mustOpen(t, fill), 0, 0, int64(64-free)<<10); err != nil {
				t.Fatal(err)
			}
			_, stderr, status := e.cli("create", "--bundle", b.Dir, "full")
			switch {
			case status == 1 && strings.Contains(stderr, "no space left on device"):
				remove(e, fill)
				if entries, _ := os.ReadDir(e.root); len(entries) != 0 {
					t.Errorf("failed create left %v in --root", entries)
				}
			case status == 0:
				remove(e, fill)
				if _, _, status := e.cli("delete", "--force", "full"); status != 0 {
					t.Errorf("delete --force: status %d", status)
				}
			default:
				t.Errorf("create with %d KiB free: status %d, stderr %q; want success or \"no space left on device\"", free, status, stderr)
			}
		})
	}
}

// children returns the child processes of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// createEnv creates a container with env added to runuml's, and fails the test if that
// fails. Its stdio is /dev/null.
func (e *env) createEnv(env []string, id string, b *bundle) *ctr {
	e.t.Helper()
	pidFile := filepath.Join(e.dir, id+".pid")
	if _, stderr, status := e.cliEnv(env, "create", "--bundle", b.Dir, "--pid-file", pidFile, id); status != 0 {
		e.t.Fatalf("create %s: status %d: %s", id, status, stderr)
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		e.t.Fatal(err)
	}
	return &ctr{id: id, bundle: b.Dir, pid: pid, exit: reap(pid)}
}

// killAndDelete kills the container with SIGKILL, checks its exit status and `state`, and
// deletes it.
func (e *env) killAndDelete(c *ctr, want int) {
	e.t.Helper()
	if err := e.rc.Kill(e.ctx, c.id, int(unix.SIGKILL), nil); err != nil {
		e.t.Errorf("kill %s 9: %v; runtime log: %s", c.id, err, e.lastLogError())
	}
	if status := c.wait(e.t); status != want {
		e.t.Errorf("container %s exited %d, want %d", c.id, status, want)
	}
	if st := e.state(c.id); st.Status != "stopped" {
		e.t.Errorf("state of %s after kill: %q, want stopped", c.id, st.Status)
	}
	if err := e.rc.Delete(e.ctx, c.id, nil); err != nil {
		e.t.Errorf("delete %s: %v", c.id, err)
	}
}

// wantNoContainer checks that `state` does not know id (a failed create left nothing).
func (e *env) wantNoContainer(id string) {
	e.t.Helper()
	e.clearLog()
	_, err := e.rc.State(e.ctx, id)
	e.wantErr("state after a failed create", err, "container does not exist")
}

var fakeAgents sync.Map // mode → path of its build

// fakeAgent builds testdata/fakeagent in mode (see there) once per run and returns its path.
func fakeAgent(t *testing.T, mode string) string {
	t.Helper()
	out := filepath.Join(suiteDir, "bin", "fakeagent-"+mode)
	if _, done := fakeAgents.Load(mode); done {
		return out
	}
	cmd := exec.Command("go", "build", "-ldflags", "-X main.mode="+mode, "-o", out, "./testdata/fakeagent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fake agent: %v\n%s", err, data)
	}
	fakeAgents.Store(mode, true)
	return out
}

func mustOpen(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}
