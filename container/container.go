// Package container is the one package the runuml CLI calls: each exported function is one
// runc verb on a container, carried out through the state store and the container's monitor.
package container

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/hostfs"
	"github.com/runuml/runuml/oci"
)

// Options are the global settings every verb shares.
type Options struct {
	Store     oci.Store
	Kernel    string   // --kernel: guest kernel path, empty for the default
	MonitorFn []string // global flags the monitor is started with, so it logs where we do
	// Rootless: runuml runs unprivileged (--rootless, see Rootless): the monitor gets a user
	// namespace of its own, the guest no host cgroups.
	Rootless bool
}

// Stdio is what the container's process reads and writes. For a process with a terminal,
// ConsoleSocket names the unix socket that receives the terminal's master instead.
type Stdio struct {
	In            io.Reader
	Out, Err      io.Writer
	ConsoleSocket string
}

// Create makes container id from bundle: it validates the bundle, reserves the id and starts
// the container's monitor, returning once the guest reports the container created. The
// returned monitor process is the container's pid; the caller may wait for it when it is
// its child (run in the foreground). On failure nothing is left behind.
func Create(o Options, id, bundle string, stdio Stdio) (*exec.Cmd, error) {
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	spec, err := oci.LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	if err := oci.CheckNamespacePaths(spec); err != nil {
		return nil, err
	}
	if _, err := guest.MemoryMiB(spec); err != nil {
		return nil, err
	}
	if err := checkRootfs(spec); err != nil {
		return nil, err
	}
	if err := checkConsole(spec.Process.Terminal, stdio.ConsoleSocket); err != nil {
		return nil, err
	}
	netns, err := networkNamespace(spec, o.Rootless)
	if err != nil {
		return nil, err
	}
	st := &oci.State{ID: id, Bundle: bundle, Rootfs: spec.Root.Path, Status: oci.Creating,
		Created: time.Now().UTC(), Annotations: spec.Annotations, CPU: -1, Hooks: spec.Hooks,
		Rootless: o.Rootless, Owner: ownerName()}
	if err := o.Store.Reserve(st); err != nil {
		if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
			return nil, fmt.Errorf("state root %s: %w (as an unprivileged user, set XDG_RUNTIME_DIR or --root to a directory of yours)", o.Store.Root, err)
		}
		return nil, err
	}
	if stdio.ConsoleSocket != "" {
		// The terminal is the process's stdio; the monitor must not hold the caller's, which
		// go-runc reads to EOF.
		stdio = Stdio{ConsoleSocket: stdio.ConsoleSocket}
	}
	cmd, err := startMonitor(o, id, stdio, netns)
	if err != nil {
		o.Store.Remove(id)
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return cmd, nil
}

// checkRootfs refuses a rootfs mode the monitor could not set up, before anything is made.
func checkRootfs(spec *specs.Spec) error {
	root, err := hostfs.ParseRootfs(spec.Annotations)
	if err != nil {
		return err
	}
	return root.Check()
}

// startMonitor starts `runuml monitor ID` in the container's network namespace (netns, or a
// new one) and waits for its word that the container is created.
func startMonitor(o Options, id string, stdio Stdio, netns string) (*exec.Cmd, error) {
	args := append(append([]string{}, o.MonitorFn...), "monitor")
	if stdio.ConsoleSocket != "" {
		args = append(args, "--console-socket", stdio.ConsoleSocket)
	}
	if ownUserns(o.Rootless) {
		args = append(args, "--own-userns")
	}
	args = append(args, id)
	return startSelf(args, nil, stdio, "monitor exited before the container was created",
		func(cmd *exec.Cmd) error { return startInNetns(cmd, netns, o.Rootless) })
}

// startSelf starts runuml with args in a session of its own, with fd 3 the write end of a
// pipe on which it reports "ok" or why it failed, and waits for that word. start starts the
// command (in a namespace); silent is the error when it exits without a word.
func startSelf(args, env []string, stdio Stdio, silent string, start func(*exec.Cmd) error) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.In, stdio.Out, stdio.Err
	cmd.ExtraFiles = []*os.File{readyW}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = start(cmd)
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", self, err)
	}
	word, _ := io.ReadAll(bufio.NewReader(readyR))
	if msg := strings.TrimSpace(string(word)); msg != "ok" {
		cmd.Wait()
		if msg == "" {
			msg = silent
		}
		return nil, errors.New(msg)
	}
	return cmd, nil
}

// ownerName names the user runuml runs as ("" for root), as runc's list shows it: the
// user's name, else the uid.
func ownerName() string {
	uid := os.Geteuid()
	if uid == 0 {
		return ""
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}

// Load returns the state of container id.
func Load(o Options, id string) (*oci.State, error) { return o.Store.Load(id) }

// List returns the state of every container.
func List(o Options) ([]*oci.State, error) { return o.Store.List() }

// Start runs the created container's process.
func Start(o Options, id string) error {
	st, err := o.Store.Load(id)
	if err != nil {
		return err
	}
	switch st.Current() {
	case oci.Created:
	case oci.Stopped:
		return fmt.Errorf("container %s: cannot start a container that has stopped", id)
	case oci.Running:
		return fmt.Errorf("container %s: cannot start an already running container", id)
	default:
		return fmt.Errorf("container %s: cannot start a container in the %s state", id, st.Current())
	}
	return startHooked(o, st)
}

// Signal sends sig to the container's process, or with all to all of its processes.
func Signal(o Options, id string, sig unix.Signal, all bool) error {
	st, err := o.Store.Load(id)
	if err != nil {
		return err
	}
	if s := st.Current(); s == oci.Stopped || s == oci.Creating {
		return fmt.Errorf("container %s: %w", id, oci.ErrNotRunning)
	}
	_, err = call(o, id, guest.Request{Op: guest.OpSignal, Signal: int(sig), All: all})
	return err
}

// Delete removes a stopped container. A created container is killed first, as runc does; a
// running or paused one only with force. The poststop hooks run last; their failure is
// logged, not returned.
func Delete(o Options, id string, force bool) error {
	st, err := o.Store.Load(id)
	if err != nil {
		return err
	}
	switch s := st.Current(); s {
	case oci.Stopped:
	case oci.Created, oci.Creating:
		stopMonitor(o, st)
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, s)
		}
		stopMonitor(o, st)
	}
	if !st.Rootless {
		guest.RemoveCgroup(o.Store, id)
	}
	if err := o.Store.Remove(id); err != nil {
		return err
	}
	warnHooks(st, oci.Poststop, oci.Stopped)
	return nil
}

// stopMonitor kills the container and waits for its monitor to exit, killing the monitor
// too if it does not (the guest dies with it).
func stopMonitor(o Options, st *oci.State) {
	Signal(o, st.ID, unix.SIGKILL, true)
	if waitExit(st, 10*time.Second) {
		return
	}
	if st.Alive() {
		unix.Kill(st.Pid, unix.SIGKILL)
		waitExit(st, 5*time.Second)
	}
}

// waitExit waits until the monitor recorded in st has exited; it need not be our child.
func waitExit(st *oci.State, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return true // already gone
	}
	defer unix.Close(fd)
	if !st.Alive() {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		return n > 0
	}
}

// Processes lists the processes of running container id as its guest sees them, and the
// host processes that carry them (the monitor, and each exec's client).
func Processes(o Options, id string) ([]proto.Process, []int, error) {
	st, err := o.Store.Load(id)
	if err != nil {
		return nil, nil, err
	}
	if s := st.Current(); s != oci.Running && s != oci.Created {
		return nil, nil, fmt.Errorf("container %s: %w", id, oci.ErrNotRunning)
	}
	resp, err := call(o, id, guest.Request{Op: guest.OpPs})
	return resp.Processes, resp.HostPids, err
}

// Pause freezes running container id's whole guest; Resume thaws it.
func Pause(o Options, id string) error { return setPaused(o, id, true) }

// Resume thaws paused container id.
func Resume(o Options, id string) error { return setPaused(o, id, false) }

func setPaused(o Options, id string, paused bool) error {
	st, err := o.Store.Load(id)
	if err != nil {
		return err
	}
	switch s := st.Current(); {
	case paused && s != oci.Running:
		return fmt.Errorf("container %s: %w", id, oci.ErrNotRunning)
	case !paused && s != oci.Paused:
		return fmt.Errorf("container %s: %w", id, oci.ErrNotPaused)
	case st.Rootless:
		return fmt.Errorf("container %s: cannot pause: %w (pause freezes them)", id, oci.ErrNoCgroups)
	}
	op := guest.OpResume
	if paused {
		op = guest.OpPause
	}
	_, err = call(o, id, guest.Request{Op: op})
	return err
}

// call sends req to container id's monitor. A monitor that no longer answers has exited with
// its container, so that is "container not running".
func call(o Options, id string, req guest.Request) (guest.Response, error) {
	resp, err := guest.Call(o.Store.Dir(id), req)
	if errors.Is(err, guest.ErrNoMonitor) {
		err = oci.ErrNotRunning
	}
	if err != nil {
		return resp, fmt.Errorf("container %s: %s: %w", id, req.Op, err)
	}
	return resp, nil
}
