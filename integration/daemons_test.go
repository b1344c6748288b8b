package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The daemons' binaries, from Debian's docker.io and containerd packages (scripts/deps.sh).
var daemonBins = []string{"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/containerd",
	"/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2"}

// testImage is the busybox image the suite imports into dockerd (and, saved, into containerd).
const testImage = "runuml-busybox:test"

// daemons are a containerd and a dockerd of the suite's own: their own state, sockets and
// pid files, started on first use and stopped by TestMain after every test.
type daemons struct {
	dir          string // short: /run/rdXXXX
	data         string // under suiteDir: data roots and logs
	dockerSock   string
	ctdSock      string
	dockerd, ctd *exec.Cmd
	dockerLog    string
	imageTar     string   // testImage as `docker save` writes it
	madeDirs     []string // host directories the daemons make outside ours, removed if empty
}

// Directories containerd 1.6 makes whatever its config says: the shims' sockets go to
// /run/containerd/s. stop removes those that did not exist before, once empty.
var containerdDirs = []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo",
	"/run/containerd/runc", "/run/containerd/runc/default"}

var (
	daemonsOnce sync.Once
	theDaemons  *daemons
	daemonsErr  error // why docker tests fail; set once
	daemonsSkip string
)

// needDaemons returns the suite's running daemons, starting them on first use, or skips or
// fails the test when they cannot run.
func needDaemons(t *testing.T) *daemons {
	t.Helper()
	requireGuests(t)
	daemonsOnce.Do(func() {
		for _, b := range daemonBins {
			if _, err := os.Stat(b); err != nil {
				daemonsSkip = fmt.Sprintf("no %s (apt-get install docker.io containerd, or scripts/deps.sh)", b)
				return
			}
		}
		theDaemons, daemonsErr = startDaemons()
	})
	if daemonsSkip != "" {
		t.Skip(daemonsSkip)
	}
	if daemonsErr != nil {
		t.Fatal(daemonsErr)
	}
	return theDaemons
}

// shortDir makes a directory /run/rdXXXX for the daemons' sockets, which must fit in
// sun_path (108 bytes). dockerd's exec root is a longer path inside it, longer than docker's
// default /var/run/docker: dockerd gives runuml the state root EXEC-ROOT/runtime-runc/moby and
// 64-character ids, so the monitor's ROOT/ID/control.sock does not fit in sun_path, as with a
// stock dockerd, and runuml must reach it by a shorter path.
func shortDir() (string, error) {
	for i := 0; i < 100; i++ {
		dir := fmt.Sprintf("/run/rd%04x", rand.IntN(1<<16))
		if err := os.Mkdir(dir, 0o700); err == nil || !errors.Is(err, os.ErrExist) {
			return dir, err
		}
	}
	return "", errors.New("no free /run/rdXXXX")
}

func startDaemons() (d *daemons, err error) {
	d = &daemons{data: filepath.Join(suiteDir, "daemons")}
	if d.dir, err = shortDir(); err != nil {
		return nil, err
	}
	for _, dir := range containerdDirs {
		if _, err := os.Stat(dir); err != nil {
			d.madeDirs = append(d.madeDirs, dir)
		}
	}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	d.dockerSock, d.ctdSock = filepath.Join(d.dir, "docker.sock"), filepath.Join(d.dir, "ctd.sock")
	d.dockerLog = filepath.Join(d.data, "dockerd.log")
	if err := os.MkdirAll(d.data, 0o755); err != nil {
		return nil, err
	}
	// No CRI plugin (it wants CNI), no debug or metrics listeners; every path ours.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(d.data, "containerd"), filepath.Join(d.dir, "ctd"), d.ctdSock, d.ctdSock+".ttrpc",
		filepath.Join(d.data, "containerd-opt"))
	ctdConfig := filepath.Join(d.data, "containerd.toml")
	if err := os.WriteFile(ctdConfig, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if d.ctd, err = startDaemon(filepath.Join(d.data, "containerd.log"), "/usr/bin/containerd", "--config", ctdConfig); err != nil {
		return nil, err
	}
	if err := waitSocket(d.ctdSock, d.ctd); err != nil {
		return nil, fmt.Errorf("containerd: %w; log:\n%s", err, logTail(filepath.Join(d.data, "containerd.log")))
	}
	daemonJSON := filepath.Join(d.data, "daemon.json")
	if err := os.WriteFile(daemonJSON, []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	d.dockerd, err = startDaemon(d.dockerLog, "/usr/sbin/dockerd",
		"--config-file", daemonJSON,
		"--data-root", filepath.Join(d.data, "docker"),
		"--exec-root", filepath.Join(d.dir, "docker-exec-root"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"),
		"-H", "unix://"+d.dockerSock,
		"--containerd", d.ctdSock,
		"--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=false", "--shutdown-timeout", "2",
		"--add-runtime", "uml="+runumlBin)
	if err != nil {
		return nil, err
	}
	if err := waitSocket(d.dockerSock, d.dockerd); err != nil {
		return nil, fmt.Errorf("dockerd: %w; log:\n%s", err, logTail(d.dockerLog))
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, err := d.docker(nil, "version"); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("dockerd never answered: %v; log:\n%s", err, logTail(d.dockerLog))
		}
	}
	if err := d.importImage(); err != nil {
		return nil, err
	}
	return d, nil
}

// startDaemon starts a daemon in a session of its own with its output in log.
func startDaemon(log, bin string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go cmd.Wait() // reaps it when it exits
	return cmd, nil
}

// waitSocket waits until a daemon accepts connections on its unix socket.
func waitSocket(path string, cmd *exec.Cmd) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil
		}
		if unix.Kill(cmd.Process.Pid, 0) != nil {
			return errors.New("exited")
		}
	}
	return fmt.Errorf("no socket %s after 30s", path)
}

// importImage makes testImage from a busybox rootfs with `docker import`, and saves it for
// containerd: no registry can be reached.
func (d *daemons) importImage() error {
	rootfs := filepath.Join(d.data, "image-rootfs")
	if err := makeRootfs(rootfs); err != nil {
		return err
	}
	// A user besides root, for -u; /tmp writable by all.
	if err := os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return err
	}
	tar := exec.Command("tar", "-C", rootfs, "-c", ".")
	out, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	if err := tar.Start(); err != nil {
		return err
	}
	_, stderr, err := d.docker(out, "import", "-c", "ENV PATH=/bin", "-c", `CMD ["sh"]`, "-", testImage)
	if werr := tar.Wait(); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("docker import: %v: %s", err, stderr)
	}
	d.imageTar = filepath.Join(d.data, "image.tar")
	if _, stderr, err := d.docker(nil, "save", "-o", d.imageTar, testImage); err != nil {
		return fmt.Errorf("docker save: %v: %s", err, stderr)
	}
	return nil
}

// docker runs the docker CLI against the suite's dockerd with stdin (nil: empty).
func (d *daemons) docker(stdin any, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", "unix://" + d.dockerSock}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	switch in := stdin.(type) {
	case string:
		cmd.Stdin = strings.NewReader(in)
	case interface{ Read([]byte) (int, error) }:
		cmd.Stdin = in
	}
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.data, "cli"))
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// stop removes every container and network the tests left, stops dockerd, then containerd,
// and removes their mounts and directories.
func (d *daemons) stop() {
	if d.dockerd != nil && alive(d.dockerd.Process.Pid) {
		if ids, _, err := d.docker(nil, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
			d.docker(nil, append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		d.docker(nil, "network", "prune", "-f")
	}
	stopProcess(d.dockerd, 30*time.Second)
	stopProcess(d.ctd, 15*time.Second)
	reapShims()
	for _, dir := range []string{d.dir, d.data} {
		if dir == "" {
			continue
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "integration: remove daemon dir:", err)
		}
	}
	for i := len(d.madeDirs) - 1; i >= 0; i-- {
		os.Remove(d.madeDirs[i]) // only if empty: another containerd may use it by now
	}
}

// stopProcess sends SIGTERM, then SIGKILL after timeout, and waits for the process to go.
func stopProcess(cmd *exec.Cmd, timeout time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	unix.Kill(pid, unix.SIGTERM)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); alive(pid) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}

// alive says whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// reapShims waits for the exited containerd shims that, as the suite is a child subreaper,
// were handed to it. They are the only zombies of ours no waiter is waiting for.
func reapShims() {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || !bytes.Contains(data, []byte("(containerd-shim")) {
			continue
		}
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			if fields[0] != "Z" {
				unix.Kill(pid, unix.SIGKILL) // a shim whose containerd is gone
			}
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}
}

// unmountUnder unmounts every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	f.Close()
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// stopDaemons stops the suite's daemons if a test started them.
func stopDaemons() {
	if theDaemons != nil {
		theDaemons.stop()
	}
}

// logTail returns the last lines of a log file, for an error message.
func logTail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
