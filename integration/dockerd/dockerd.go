// Package dockerd runs a containerd and a dockerd of their own for runuml's integration
// tests and benchmarks: their own data and state directories, sockets, pid files and bridge,
// runtime `uml` registered, a busybox image imported (no registry can be reached), and all
// of it stopped and removed after, the host's iptables rules included. It never touches a
// daemon it did not start.
package dockerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bins are the daemons' binaries, from Debian's docker.io and containerd packages
// (scripts/deps.sh).
var Bins = []string{"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/containerd",
	"/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/docker-proxy"}

// Directories containerd 1.6 makes whatever its config says: the shims' sockets go to
// /run/containerd/s. Stop removes those that did not exist before, once empty.
var containerdDirs = []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo",
	"/run/containerd/runc", "/run/containerd/runc/default"}

// Options say what to start.
type Options struct {
	Runuml  string        // the runuml binary, registered as runtime `uml`
	Data    string        // data roots and logs go here (made if missing, removed by Stop)
	Timeout time.Duration // of one docker CLI call
}

// Daemons are a running containerd and dockerd.
type Daemons struct {
	Dir        string // short (/run/rdXXXX): sockets, state, exec root
	Data       string
	DockerSock string
	CtdSock    string
	DockerLog  string
	// Bridge is dockerd's default bridge, made by Start with Gateway/24 (Subnet): its own,
	// so the host's docker0 and other daemons' networks are not touched.
	Bridge  string
	Gateway net.IP
	Subnet  string
	// Pool is the address pool of user-defined networks (`docker network create`): /26s of
	// a /24 of its own.
	Pool string

	timeout      time.Duration
	dockerd, ctd *exec.Cmd
	madeDirs     []string // host directories the daemons make outside ours, removed if empty
	ipt          iptablesState
}

// Start starts containerd, then dockerd with runtime `uml` and a bridge of its own, with
// iptables (so `-p` publishes ports). On failure nothing is left.
func Start(o Options) (d *Daemons, err error) {
	d = &Daemons{Data: o.Data, timeout: o.Timeout}
	if d.timeout == 0 {
		d.timeout = 90 * time.Second
	}
	for _, b := range Bins {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("no %s (apt-get install docker.io containerd, or scripts/deps.sh): %w", b, ErrMissing)
		}
	}
	suffix, err := d.shortDir()
	if err != nil {
		return nil, err
	}
	for _, dir := range containerdDirs {
		if _, err := os.Stat(dir); err != nil {
			d.madeDirs = append(d.madeDirs, dir)
		}
	}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	if err := d.makeBridge(suffix); err != nil {
		return nil, err
	}
	d.DockerSock, d.CtdSock = filepath.Join(d.Dir, "docker.sock"), filepath.Join(d.Dir, "ctd.sock")
	d.DockerLog = filepath.Join(d.Data, "dockerd.log")
	if err := os.MkdirAll(d.Data, 0o755); err != nil {
		return nil, err
	}
	if err := d.startContainerd(); err != nil {
		return nil, err
	}
	return d, d.startDockerd(o.Runuml)
}

// ErrMissing is wrapped by Start's error when the daemons are not installed.
var ErrMissing = errors.New("docker or containerd not installed")

// shortDir makes the directory /run/rdXXXX for the daemons' sockets, which must fit in
// sun_path (108 bytes), and returns its random XXXX. dockerd's exec root is a longer path
// inside it, longer than docker's default /var/run/docker: dockerd gives runuml the state root
// EXEC-ROOT/runtime-runc/moby and 64-character ids, so the monitor's ROOT/ID/control.sock does
// not fit in sun_path, as with a stock dockerd, and runuml must reach it by a shorter path.
func (d *Daemons) shortDir() (int, error) {
	for i := 0; i < 100; i++ {
		n := rand.IntN(1 << 16)
		dir := fmt.Sprintf("/run/rd%04x", n)
		if err := os.Mkdir(dir, 0o700); err == nil || !errors.Is(err, os.ErrExist) {
			d.Dir = dir
			return n, err
		}
	}
	return 0, errors.New("no free /run/rdXXXX")
}

// makeBridge makes bridge rdbrXXXX with 10.211.N.1/24, N chosen so that neither that /24
// nor the user-defined networks' 10.212.N.0/24 is routed on this host already.
func (d *Daemons) makeBridge(suffix int) error {
	routes, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return fmt.Errorf("ip route: %w", err)
	}
	n := suffix & 0xff
	for i := 0; ; i++ {
		if i == 256 {
			return errors.New("no free 10.211.N.0/24 for the bridge")
		}
		if !bytes.Contains(routes, fmt.Appendf(nil, "10.211.%d.", n)) && !bytes.Contains(routes, fmt.Appendf(nil, "10.212.%d.", n)) {
			break
		}
		n = (n + 1) & 0xff
	}
	d.Bridge = fmt.Sprintf("rdbr%04x", suffix)
	d.Gateway = net.IPv4(10, 211, byte(n), 1)
	d.Subnet = fmt.Sprintf("10.211.%d.0/24", n)
	d.Pool = fmt.Sprintf("10.212.%d.0/24", n)
	for _, args := range [][]string{
		{"link", "add", d.Bridge, "type", "bridge"},
		{"addr", "add", d.Gateway.String() + "/24", "dev", d.Bridge},
		{"link", "set", d.Bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func (d *Daemons) startContainerd() error {
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
`, filepath.Join(d.Data, "containerd"), filepath.Join(d.Dir, "ctd"), d.CtdSock, d.CtdSock+".ttrpc",
		filepath.Join(d.Data, "containerd-opt"))
	ctdConfig := filepath.Join(d.Data, "containerd.toml")
	if err := os.WriteFile(ctdConfig, []byte(config), 0o644); err != nil {
		return err
	}
	log := filepath.Join(d.Data, "containerd.log")
	var err error
	if d.ctd, err = startDaemon(log, "/usr/bin/containerd", "--config", ctdConfig); err != nil {
		return err
	}
	if err := waitSocket(d.CtdSock, d.ctd); err != nil {
		return fmt.Errorf("containerd: %w; log:\n%s", err, LogTail(log))
	}
	return nil
}

func (d *Daemons) startDockerd(runuml string) error {
	config := fmt.Sprintf(`{
  "bridge": %q,
  "default-address-pools": [{"base": %q, "size": 26}],
  "userland-proxy-path": "/usr/sbin/docker-proxy",
  "runtimes": {"uml": {"path": %q}}
}
`, d.Bridge, d.Pool, runuml)
	daemonJSON := filepath.Join(d.Data, "daemon.json")
	if err := os.WriteFile(daemonJSON, []byte(config), 0o644); err != nil {
		return err
	}
	d.ipt = saveIptablesState()
	var err error
	d.dockerd, err = startDaemon(d.DockerLog, "/usr/sbin/dockerd",
		"--config-file", daemonJSON,
		"--data-root", filepath.Join(d.Data, "docker"),
		"--exec-root", filepath.Join(d.Dir, "docker-exec-root"),
		"--pidfile", filepath.Join(d.Dir, "docker.pid"),
		"-H", "unix://"+d.DockerSock,
		"--containerd", d.CtdSock,
		"--ip6tables=false", "--shutdown-timeout", "2")
	if err != nil {
		return err
	}
	if err := waitSocket(d.DockerSock, d.dockerd); err != nil {
		return fmt.Errorf("dockerd: %w; log:\n%s", err, LogTail(d.DockerLog))
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, err := d.Docker(nil, "version"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("dockerd never answered: %v; log:\n%s", err, LogTail(d.DockerLog))
		}
	}
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

// Docker runs the docker CLI against this dockerd with stdin (nil: empty; a string or a
// reader).
func (d *Daemons) Docker(stdin any, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	cmd := d.DockerCmd(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	switch in := stdin.(type) {
	case string:
		cmd.Stdin = strings.NewReader(in)
	case interface{ Read([]byte) (int, error) }:
		cmd.Stdin = in
	}
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// DockerCmd is the docker CLI against this dockerd, for a caller that wires its stdio
// itself (a terminal, say).
func (d *Daemons) DockerCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", "unix://" + d.DockerSock}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Data, "cli"))
	return cmd
}

// Stop removes every container and network left, stops dockerd, then containerd, removes
// their mounts and directories, the bridge, and the iptables rules dockerd left for it.
func (d *Daemons) Stop() {
	if d.dockerd != nil && alive(d.dockerd.Process.Pid) {
		if ids, _, err := d.Docker(nil, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
			d.Docker(nil, append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		d.Docker(nil, "network", "prune", "-f")
	}
	stopProcess(d.dockerd, 30*time.Second)
	stopProcess(d.ctd, 15*time.Second)
	reapShims()
	if d.Bridge != "" {
		exec.Command("ip", "link", "del", d.Bridge).Run()
		d.ipt.cleanup(d.Bridge, d.Subnet, d.Pool)
	}
	for _, dir := range []string{d.Dir, d.Data} {
		if dir == "" {
			continue
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "dockerd: remove daemon dir:", err)
		}
	}
	for i := len(d.madeDirs) - 1; i >= 0; i-- {
		os.Remove(d.madeDirs[i]) // only if empty: another containerd may use it by now
	}
}
