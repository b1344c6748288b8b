package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
)

// TestPauseResume checks that pause stops a counter loop from advancing (the whole guest is
// frozen), that state says paused, and that resume lets the loop go on.
func TestPauseResume(t *testing.T) {
	e := newEnv(t)
	c := e.create("pz", e.newBundle([]string{"sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.02; done"}))
	e.start(c)
	lines := func() int { return strings.Count(c.stdout.String(), "\n") }
	if !c.stdout.waitFor("3\n", waitTimeout) {
		t.Fatalf("the counter did not start: %q", c.stdout)
	}
	if err := e.rc.Pause(e.ctx, "pz"); err != nil {
		t.Fatalf("pause: %v; log: %s", err, e.lastLogError())
	}
	if st := e.state("pz"); st.Status != "paused" {
		t.Errorf("state after pause: %s", st.Status)
	}
	time.Sleep(200 * time.Millisecond) // output already in flight arrives
	frozen := lines()
	time.Sleep(500 * time.Millisecond)
	if n := lines(); n != frozen {
		t.Errorf("the counter advanced while paused: %d -> %d lines", frozen, n)
	}
	e.clearLog()
	e.wantErr("pause of a paused container", e.rc.Pause(e.ctx, "pz"), "container not running")
	if err := e.rc.Resume(e.ctx, "pz"); err != nil {
		t.Fatalf("resume: %v; log: %s", err, e.lastLogError())
	}
	if st := e.state("pz"); st.Status != "running" {
		t.Errorf("state after resume: %s", st.Status)
	}
	time.Sleep(300 * time.Millisecond)
	if n := lines(); n <= frozen {
		t.Errorf("the counter did not go on after resume: %d lines", n)
	}
	// A paused container can be killed and deleted.
	if err := e.rc.Pause(e.ctx, "pz"); err != nil {
		t.Fatalf("pause again: %v", err)
	}
	if err := e.rc.Delete(e.ctx, "pz", &runc.DeleteOpts{Force: true}); err != nil {
		t.Errorf("delete --force of a paused container: %v", err)
	}
	if status := c.wait(t); status != 137 {
		t.Errorf("exit status of the killed paused container %d, want 137", status)
	}
	// Its freezer group went with it.
	groups, _ := filepath.Glob("/sys/fs/cgroup/*/runuml/pz-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/runuml/pz-*")
	if len(groups)+len(more) > 0 {
		t.Errorf("cgroups left behind: %v %v", groups, more)
	}
}
