package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runuml/runuml/integration/dockerd"
)

// dockerT is one test's view of the suite's dockerd.
type dockerT struct {
	*daemons
	t *testing.T
}

func newDocker(t *testing.T) dockerT {
	return dockerT{needDaemons(t), t}
}

// ok runs the docker CLI and fails the test unless it exits 0; it returns the output.
func (d dockerT) ok(args ...string) string {
	d.t.Helper()
	out, stderr, err := d.docker(nil, args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v: %s%s", strings.Join(args, " "), err, stderr, d.runtimeLog())
	}
	return out
}

// status runs the docker CLI with stdin and returns its output and exit status.
func (d dockerT) status(stdin any, args ...string) (string, string, int) {
	d.t.Helper()
	out, stderr, err := d.docker(stdin, args...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out, stderr, ee.ExitCode()
	case err != nil:
		d.t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out, stderr, 0
}

// run is `docker run --rm` with runtime uml and no network; it fails the test unless the
// container exits 0, and returns its output.
func (d dockerT) run(args ...string) string {
	d.t.Helper()
	return d.ok(append([]string{"run", "--rm", "--runtime=uml", "--network", "none"}, args...)...)
}

// detach starts a container of runtime uml with no network in the background, removed
// after the test.
func (d dockerT) detach(args ...string) string {
	d.t.Helper()
	return d.start(append([]string{"--network", "none"}, args...)...)
}

// start is `docker run -d` with runtime uml (and docker's default network unless args say
// otherwise); the container is removed after the test.
func (d dockerT) start(args ...string) string {
	d.t.Helper()
	id := strings.TrimSpace(d.ok(append([]string{"run", "-d", "--runtime=uml"}, args...)...))
	d.t.Cleanup(func() { d.docker(nil, "rm", "-f", id) })
	return id
}

// inspect returns a field of a container, as `docker inspect -f` formats it.
func (d dockerT) inspect(id, format string) string {
	d.t.Helper()
	return strings.TrimSpace(d.ok("inspect", "-f", format, id))
}

// waitLogs waits until the container's output contains want.
func (d dockerT) waitLogs(id, want string) string {
	d.t.Helper()
	var out string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out = d.ok("logs", id); strings.Contains(out, want) {
			return out
		}
	}
	d.t.Fatalf("container %s never printed %q; its output: %q", id, want, out)
	return ""
}

// runtimeLog is the tail of dockerd's log, where the shim's runtime errors show.
func (d dockerT) runtimeLog() string {
	return "\ndockerd log:\n" + dockerd.LogTail(d.DockerLog)
}

func TestDockerRun(t *testing.T) {
	d := newDocker(t)
	if got := d.run(testImage, "echo", "hi"); got != "hi\n" {
		t.Errorf("echo hi printed %q", got)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if got := d.run(testImage, "uname", "-r"); got == string(host) {
		t.Errorf("uname -r in the container is the host's %q: not a UML guest", got)
	}
	if _, _, status := d.status(nil, "run", "--rm", "--runtime=uml", "--network", "none", testImage, "sh", "-c", "exit 3"); status != 3 {
		t.Errorf("exit 3 gave status %d", status)
	}
	out, _, status := d.status("one\ntwo\n", "run", "-i", "--rm", "--runtime=uml", "--network", "none", testImage, "sh", "-c", "wc -l; cat")
	if status != 0 || strings.TrimSpace(out) != "2" {
		t.Errorf("piped stdin: status %d, output %q; want 2 lines counted", status, out)
	}
}

func TestDockerRunOptions(t *testing.T) {
	d := newDocker(t)
	got := d.run("-e", "FOO=bar", "-u", "65534:65534", "-w", "/tmp", "--hostname", "umlhost", testImage,
		"sh", "-c", `echo "$FOO $(id -u):$(id -g) $(pwd) $(hostname)"`)
	if got != "bar 65534:65534 /tmp umlhost\n" {
		t.Errorf("-e -u -w --hostname: got %q", got)
	}
	if got := d.run("--ulimit", "nofile=512:1024", testImage, "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)"); got != "512 1024\n" {
		t.Errorf("--ulimit nofile=512:1024: got %q", got)
	}
	// The guest's RAM is the memory limit.
	mem := d.run("--memory", "64m", testImage, "sh", "-c", "grep MemTotal /proc/meminfo")
	if f := strings.Fields(mem); len(f) < 2 || atoi(f[1]) <= 0 || atoi(f[1]) > 64*1024 {
		t.Errorf("--memory 64m: %q, want MemTotal at most 64 MiB", mem)
	}
	if _, _, status := d.status(nil, "run", "--rm", "--runtime=uml", "--network", "none", "--read-only", testImage, "touch", "/x"); status == 0 {
		t.Error("--read-only: touch /x succeeded")
	}
	if got := d.run("--read-only", "--tmpfs", "/scratch:size=1m", testImage, "sh", "-c", "echo x > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts"); !strings.HasPrefix(got, "x\ntmpfs /scratch tmpfs ") || !strings.Contains(got, "size=1024k") {
		t.Errorf("--tmpfs /scratch:size=1m: got %q", got)
	}
	if _, err := exec.LookPath("docker-init"); err == nil {
		if got := d.run("--init", testImage, "ps", "-o", "pid,args"); !strings.Contains(got, "1 /sbin/docker-init -- ps") {
			t.Errorf("--init: pid 1 is not docker-init:\n%s", got)
		}
	}
}

func TestDockerVolumes(t *testing.T) {
	d := newDocker(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := d.run("-v", dir+":/data", testImage, "sh", "-c", "cat /data/in; echo from guest > /data/out"); got != "from host\n" {
		t.Errorf("-v: read %q", got)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(data) != "from guest\n" {
		t.Errorf("-v: the host sees %q (%v)", data, err)
	}
	_, stderr, status := d.status(nil, "run", "--rm", "--runtime=uml", "--network", "none", "-v", dir+":/data:ro", testImage, "sh", "-c", "cat /data/in && echo x > /data/new")
	if _, err := os.Stat(filepath.Join(dir, "new")); status == 0 || err == nil || !strings.Contains(stderr, "Read-only file system") {
		t.Errorf(":ro: status %d, stderr %q, file made: %v", status, stderr, err == nil)
	}
	vol := "runuml-test-vol"
	d.ok("volume", "create", vol)
	t.Cleanup(func() { d.docker(nil, "volume", "rm", "-f", vol) })
	d.run("-v", vol+":/v", testImage, "sh", "-c", "echo kept > /v/f")
	if got := d.run("-v", vol+":/v", testImage, "cat", "/v/f"); got != "kept\n" {
		t.Errorf("named volume: a second container read %q", got)
	}
}

// A long-running container through its life: logs, exec, signals, pause, cp, diff, commit,
// stop, restart.
func TestDockerDetached(t *testing.T) {
	d := newDocker(t)
	id := d.detach(testImage, "sh", "-c",
		`echo started; trap "echo got-usr1" USR1; trap "echo term; exit 7" TERM; while true; do sleep 0.1; done`)
	d.waitLogs(id, "started\n")

	if got := d.ok("exec", id, "echo", "in-exec"); got != "in-exec\n" {
		t.Errorf("exec: %q", got)
	}
	if got := d.ok("exec", "-u", "65534", "-e", "FOO=bar", "-w", "/tmp", id, "sh", "-c", `echo "$(id -u) $FOO $(pwd)"`); got != "65534 bar /tmp\n" {
		t.Errorf("exec -u -e -w: %q", got)
	}
	if _, _, status := d.status(nil, "exec", id, "sh", "-c", "exit 4"); status != 4 {
		t.Errorf("exec exit 4: status %d", status)
	}
	if got, _, _ := d.status("piped\n", "exec", "-i", id, "cat"); got != "piped\n" {
		t.Errorf("exec -i: %q", got)
	}

	d.ok("kill", "-s", "USR1", id)
	d.waitLogs(id, "got-usr1\n")

	d.ok("pause", id)
	if st := d.inspect(id, "{{.State.Status}}"); st != "paused" {
		t.Errorf("after pause: status %q", st)
	}
	d.ok("unpause", id)
	if got := d.ok("exec", id, "echo", "thawed"); got != "thawed\n" {
		t.Errorf("exec after unpause: %q", got)
	}
	d.ok("stats", "--no-stream", id)

	src := filepath.Join(t.TempDir(), "to-guest")
	os.WriteFile(src, []byte("copied in\n"), 0o644)
	d.ok("cp", src, id+":/tmp/in")
	if got := d.ok("exec", id, "cat", "/tmp/in"); got != "copied in\n" {
		t.Errorf("cp into the container: %q", got)
	}
	d.ok("exec", id, "sh", "-c", "echo made inside > /tmp/made")
	dst := filepath.Join(t.TempDir(), "from-guest")
	d.ok("cp", id+":/tmp/made", dst)
	if data, _ := os.ReadFile(dst); string(data) != "made inside\n" {
		t.Errorf("cp out of the container: %q", data)
	}
	if diff := d.ok("diff", id); !strings.Contains(diff, "A /tmp/made") || !strings.Contains(diff, "A /tmp/in") {
		t.Errorf("diff:\n%s", diff)
	}
	image := "runuml-test-commit:latest"
	d.ok("commit", id, image)
	t.Cleanup(func() { d.docker(nil, "rmi", "-f", image) })
	if got := d.run(image, "cat", "/tmp/made"); got != "made inside\n" {
		t.Errorf("a container of the committed image read %q", got)
	}

	d.ok("stop", id)
	if got := d.inspect(id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 7" {
		t.Errorf("after stop: %q, want the trap's exit 7", got)
	}
	d.ok("restart", id)
	if got := d.waitLogs(id, "term\nstarted\n"); strings.Count(got, "started") != 2 {
		t.Errorf("after restart: output %q", got)
	}
	d.ok("rm", "-f", id)
	if _, _, status := d.status(nil, "inspect", id); status == 0 {
		t.Error("the container is still there after rm -f")
	}
}

func TestDockerStopKills(t *testing.T) {
	d := newDocker(t)
	id := d.detach(testImage, "sh", "-c", `trap "" TERM; echo ready; while true; do sleep 0.1; done`)
	d.waitLogs(id, "ready")
	start := time.Now()
	d.ok("stop", "-t", "1", id)
	if took := time.Since(start); took < time.Second || took > 15*time.Second {
		t.Errorf("stop -t 1 of a container ignoring SIGTERM took %v", took)
	}
	if got := d.inspect(id, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code %s after SIGKILL, want 137", got)
	}
}

func TestDockerWaitAndRestartPolicy(t *testing.T) {
	d := newDocker(t)
	id := d.detach(testImage, "sh", "-c", "sleep 0.5; exit 5")
	if got := strings.TrimSpace(d.ok("wait", id)); got != "5" {
		t.Errorf("wait: %q, want 5", got)
	}
	id = d.detach("--restart", "on-failure:2", testImage, "sh", "-c", "echo run; exit 1")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if d.inspect(id, "{{.RestartCount}} {{.State.Status}}") == "2 exited" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--restart on-failure:2: %s", d.inspect(id, "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"))
		}
	}
	if got := d.ok("logs", id); got != "run\nrun\nrun\n" {
		t.Errorf("--restart on-failure:2 ran %q, want three runs", got)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// debianImage is a minimal Debian 12 image (debootstrap), imported on first use.
const debianImage = "runuml-debian:test"

var debianOnce sync.Once
var debianErr error

// TestDockerDebian runs a glibc distribution's programs in a guest: dpkg, apt, bash, perl,
// and name lookups through nsswitch.
func TestDockerDebian(t *testing.T) {
	d := newDocker(t)
	debianOnce.Do(func() { debianErr = d.ImportDebian(debianImage) })
	if debianErr != nil {
		t.Fatal(debianErr)
	}
	out := d.ok("run", "--rm", "--runtime=uml", "--network", "none", debianImage, "bash", "-c",
		`cat /etc/debian_version; dpkg-query -W -f='${Package}\n' dpkg apt; apt-get -v | head -1 | cut -d' ' -f1;
		 perl -e 'print "perl-", 6*7, "\n"'; getent passwd root | cut -d: -f6; echo bash-$((1+1))`)
	for _, want := range []string{"12.", "\napt\ndpkg\napt\n", "perl-42\n", "/root\n", "bash-2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Debian container output lacks %q:\n%s", want, out)
		}
	}
}

// TestDockerTop: docker top lists the host processes that carry the container, which runuml's
// `ps --format json` gives as runc gives its container's: the monitor (the container's pid),
// and an exec's client while it runs. The guest's own commands are not host processes.
func TestDockerTop(t *testing.T) {
	d := newDocker(t)
	id := d.detach(testImage, "sleep", "1000")
	d.ok("exec", "-d", id, "sleep", "999")
	out := d.ok("top", id)
	if !strings.Contains(out, "monitor") || !strings.Contains(out, id) {
		t.Errorf("docker top lacks the container's monitor:\n%s", out)
	}
	// The client's own arguments: "exec" alone is also in the monitor's row (dockerd's root
	// for runuml is under its exec root).
	if !strings.Contains(out, " exec --process ") {
		t.Errorf("docker top lacks the exec's client:\n%s", out)
	}
	if strings.Contains(out, "/sbin/init") || strings.Contains(out, "kworker") {
		t.Errorf("docker top shows unrelated host processes:\n%s", out)
	}
}
