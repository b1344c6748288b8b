package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestKillTrappedTERM checks that `kill ID 15` (go-runc sends numbers) reaches a process
// that traps SIGTERM, and that its handler's output and exit status come back.
func TestKillTrappedTERM(t *testing.T) {
	e := newEnv(t)
	c := e.create("trap", e.newBundle([]string{"sh", "-c",
		`trap "echo got TERM; exit 3" TERM; echo ready; while true; do sleep 0.1; done`}))
	e.start(c)
	if !c.stdout.waitFor("ready\n", waitTimeout) {
		t.Fatalf("the container never said ready; stdout %q", c.stdout)
	}
	if err := e.rc.Kill(e.ctx, "trap", int(unix.SIGTERM), nil); err != nil {
		t.Fatalf("kill trap 15: %v", err)
	}
	if status := c.wait(t); status != 3 {
		t.Errorf("exit status %d, want 3 (the trap's)", status)
	}
	if out := c.stdout.wait(waitTimeout); string(out) != "ready\ngot TERM\n" {
		t.Errorf("stdout %q, want %q", out, "ready\ngot TERM\n")
	}
	e.waitStatus("trap", "stopped")
	if err := e.rc.Delete(e.ctx, "trap", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestKillSignalForms checks each way a user names SIGKILL, on a running and on a created
// container: the container ends with status 137 and state says stopped.
func TestKillSignalForms(t *testing.T) {
	requireGuests(t)
	for _, tc := range []struct {
		sig   string
		start bool
	}{
		{"9", true}, {"KILL", true}, {"SIGKILL", true}, {"sigkill", true}, {"9", false},
	} {
		name := tc.sig + " created"
		if tc.start {
			name = tc.sig + " running"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.create("k", e.newBundle([]string{"sleep", "100"}))
			if tc.start {
				e.start(c)
			}
			if stdout, stderr, status := e.cli("kill", "k", tc.sig); status != 0 || stdout != "" {
				t.Fatalf("runuml kill k %s: status %d, stdout %q, stderr %q; want 0", tc.sig, status, stdout, stderr)
			}
			if status := c.wait(t); status != 137 {
				t.Errorf("exit status %d, want 137", status)
			}
			e.waitStatus("k", "stopped")
			if err := e.rc.Delete(e.ctx, "k", nil); err != nil {
				t.Errorf("delete: %v", err)
			}
		})
	}
}

// killAllScript starts two background shells that trap TERM, waits until they have, then
// waits itself; each process records the TERM it got in /data, a host directory.
const killAllScript = `
child() {
	trap "echo $1 > /data/$1; exit 0" TERM
	touch /data/$1.ready
	while true; do sleep 0.1; done
}
child a &
child b &
trap 'wait; echo main > /data/main; exit 3' TERM
while [ ! -e /data/a.ready ] || [ ! -e /data/b.ready ]; do sleep 0.05; done
echo ready
while true; do sleep 0.1; done
`

// TestKillAll checks that `kill --all` reaches every process of the container, not just its
// first: each one's trap leaves a file in a bind-mounted host directory.
func TestKillAll(t *testing.T) {
	e := newEnv(t)
	data := filepath.Join(e.dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	b := e.newBundle([]string{"sh", "/killall.sh"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data,
			Options: []string{"rbind", "rw"}})
	})
	b.writeFile(e, "killall.sh", killAllScript, 0o755)
	// The mount point, since the rootfs is read-only (TestReadonlyRootfsMountPoints).
	if err := os.Mkdir(filepath.Join(b.Rootfs, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := e.create("all", b)
	e.start(c)
	if !c.stdout.waitFor("ready\n", waitTimeout) {
		t.Fatalf("the container never said ready; stdout %q, stderr %q", c.stdout, c.stderr)
	}
	if err := e.rc.Kill(e.ctx, "all", int(unix.SIGTERM), &runc.KillOpts{All: true}); err != nil {
		t.Fatalf("kill --all all 15: %v", err)
	}
	if status := c.wait(t); status != 3 {
		t.Errorf("exit status %d, want 3 (the main shell's trap)", status)
	}
	for _, name := range []string{"a", "b", "main"} {
		got, err := os.ReadFile(filepath.Join(data, name))
		if err != nil || strings.TrimSpace(string(got)) != name {
			t.Errorf("/data/%s: %q, %v; want the process's trap to have written %q", name, got, err, name)
		}
	}
	if err := e.rc.Delete(e.ctx, "all", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestRunForwardsSignals checks that a signal to `runuml run` reaches the container's
// process, as with `runc run`.
func TestRunForwardsSignals(t *testing.T) {
	e := newEnv(t)
	r := e.startRun("fwd", e.newBundle([]string{"sh", "-c",
		`trap "echo got HUP; exit 5" HUP; echo ready; while true; do sleep 0.1; done`}), nil)
	if r.pid <= 0 || !r.stdout.waitFor("ready\n", waitTimeout) {
		t.Fatalf("the container never said ready; runuml run pid %d, stdout %q", r.pid, r.stdout)
	}
	if err := unix.Kill(r.pid, unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if res := r.wait(); res.status != 5 || string(res.stdout) != "ready\ngot HUP\n" {
		t.Errorf("SIGHUP to runuml run: status %d, stdout %q; want 5, %q", res.status, res.stdout, "ready\ngot HUP\n")
	}
}
