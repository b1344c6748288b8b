package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var ctrImportOnce sync.Once

// ctr runs containerd's ctr against the suite's containerd and returns its output and exit
// status.
func (d *daemons) ctr(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/ctr", append([]string{"--address", d.CtdSock}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("ctr %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// ctrImage imports the test image, as `docker save` wrote it, into containerd once.
func (d *daemons) ctrImage(t *testing.T) string {
	t.Helper()
	var failed string
	ctrImportOnce.Do(func() {
		if out, status := d.ctr(t, "images", "import", d.imageTar); status != 0 {
			failed = fmt.Sprintf("ctr images import: status %d: %s", status, out)
		}
	})
	if failed != "" {
		t.Fatal(failed)
	}
	return "docker.io/library/" + testImage
}

func TestCtrRun(t *testing.T) {
	d := needDaemons(t)
	image := d.ctrImage(t)
	// runuml's state and ctr's fifos in our directory, not containerd's defaults under /run.
	opts := []string{"--runc-binary", runumlBin, "--runc-root", filepath.Join(d.Dir, "runc"), "--fifo-dir", filepath.Join(d.Dir, "fifo")}
	run := append(append([]string{"run", "--rm"}, opts...), image)
	if out, status := d.ctr(t, append(run, "ctr-echo", "echo", "hi")...); status != 0 || out != "hi\n" {
		t.Errorf("ctr run echo hi: status %d, output %q", status, out)
	}
	if out, status := d.ctr(t, append(run, "ctr-exit", "sh", "-c", "exit 3")...); status != 3 {
		t.Errorf("ctr run exit 3: status %d (%q)", status, out)
	}

	// Detached, with an exec into it.
	id := "ctr-detached"
	if out, status := d.ctr(t, append(append(append([]string{"run", "-d"}, opts...), image), id, "sleep", "60")...); status != 0 {
		t.Fatalf("ctr run -d: status %d: %s", status, out)
	}
	t.Cleanup(func() {
		d.ctr(t, "tasks", "kill", "-s", "SIGKILL", id)
		d.ctr(t, "tasks", "delete", "-f", id)
		d.ctr(t, "containers", "delete", id)
	})
	if out, status := d.ctr(t, "tasks", "exec", "--fifo-dir", filepath.Join(d.Dir, "fifo"), "--exec-id", "e1", id, "sh", "-c", "echo from-exec; exit 6"); status != 6 || out != "from-exec\n" {
		t.Errorf("ctr tasks exec: status %d, output %q", status, out)
	}
	if out, _ := d.ctr(t, "tasks", "ls"); !strings.Contains(out, id) || !strings.Contains(out, "RUNNING") {
		t.Errorf("ctr tasks ls:\n%s", out)
	}
}
