package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/hostfs"
	"github.com/runuml/runuml/netplug"
	"github.com/runuml/runuml/oci"
)

// Timeouts of the guest's life.
const (
	startTimeout   = 10 * time.Second
	poweroffWait   = 5 * time.Second // Exit frame to the kernel's exit
	killEscalation = 3 * time.Second // a SIGKILL the guest did not carry out in this time ends it
)

// Files in a container's state dir.
const (
	KernelLog    = "kernel.log"
	guestSpec    = "config.json"
	guestNetwork = "network.json"
)

// Monitor owns one container's guest. It is the process `runuml monitor ID`, whose pid is the
// container's pid for containerd; it exits with the container's exit status.
type Monitor struct {
	Store  oci.Store
	ID     string
	Kernel string // kernel path from --kernel; empty: the annotation or the default
	Init   string // host path of runuml-init
	// ConsoleSocket receives the master of the process's terminal (process.terminal).
	ConsoleSocket string
	// OwnUserns: the monitor runs in a user namespace runuml made for it (rootless, as a
	// user), where the caller's uid is 0: the spec's id mappings are translated into it.
	OwnUserns bool

	st    *oci.State
	dir   string
	log   *logrus.Entry
	w     *proto.Writer
	uml   *os.Process
	dead  chan struct{} // closed when the kernel process has exited
	umlWS syscall.WaitStatus

	mu       sync.Mutex
	started  chan error // the answer to Start
	killed   bool       // we ended the guest from the host
	stdinWin *window
	calls    sync.WaitGroup // control calls being answered
	execs    map[uint32]*execClient
	nextExec uint32
	psMu     sync.Mutex
	psAnswer chan []proto.Process
	cgroup   *Cgroups        // the guest's host cgroups, nil without any
	net      *netplug.Config // what the guest took of the network namespace
	dnsSlots chan struct{}   // DNS queries being relayed

	// The process's stdio on the host: the monitor's own, or the terminal's slave.
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            *os.File
}

// Run boots the guest and serves the container until it exits; ready receives "ok" once the
// container is created, or the reason it could not be. It returns the exit status.
func (m *Monitor) Run(ready io.WriteCloser) int {
	m.dir = m.Store.Dir(m.ID)
	m.log = logrus.WithField("id", m.ID)
	m.dead = make(chan struct{})
	m.stdinWin = newWindow(proto.StdinWindow)
	m.psAnswer = make(chan []proto.Process, 1)
	m.dnsSlots = make(chan struct{}, maxDNSInFlight)
	// Output to a closed stdout must fail the write, not kill the monitor; nor may the
	// hangup of a terminal whose master was closed.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE, unix.SIGHUP)
	m.stdin, m.stdout, m.stderr = os.Stdin, os.Stdout, os.Stderr

	line, err := m.create()
	if err != nil {
		m.log.WithError(err).Error("create failed")
		m.stopGuest()
		m.unplugNetwork()
		m.removeCgroups()
		fmt.Fprintf(ready, "%v\n", err)
		ready.Close()
		return 1
	}
	ln, err := listenControl(m.dir)
	if err == nil {
		m.st.Status = oci.Created
		err = m.Store.Save(m.st)
	}
	if err != nil {
		m.stopGuest()
		m.unplugNetwork()
		m.removeCgroups()
		fmt.Fprintf(ready, "container %s: %v\n", m.ID, err)
		ready.Close()
		return 1
	}
	go m.serve(ln)
	fmt.Fprintln(ready, "ok")
	ready.Close()
	// Once the container has settled, what the monitor touched to get there can go.
	time.AfterFunc(pageOutDelay, m.pageOutCode)

	status := m.relay(line)
	m.finish(status)
	return status
}

// create stages the jail, boots the guest and waits for the agent to report the container
// ready. It returns the reader of the control line.
func (m *Monitor) create() (*proto.Reader, error) {
	var err error
	if m.st, err = m.Store.Load(m.ID); err != nil {
		return nil, err
	}
	m.st.Pid = os.Getpid()
	if m.st.PidStart, err = oci.ProcStartTime(m.st.Pid); err != nil {
		return nil, err
	}
	if err := m.Store.Save(m.st); err != nil {
		return nil, err
	}
	spec, err := oci.LoadSpec(m.st.Bundle)
	if err != nil {
		return nil, err
	}
	if m.ConsoleSocket != "" {
		if m.tty, err = OpenConsole(m.ConsoleSocket); err != nil {
			return nil, err
		}
		m.stdin, m.stdout, m.stderr = m.tty, m.tty, m.tty
	}
	if err := m.runHooks(oci.Prestart, oci.CreateRuntime); err != nil {
		return nil, err
	}
	line, err := m.boot(spec)
	if err != nil {
		return nil, err
	}
	m.w = proto.NewWriter(line)
	r := proto.NewReader(line)
	if err := m.awaitReady(r); err != nil {
		return nil, err
	}
	if err := m.runHooks(oci.CreateContainer); err != nil {
		return nil, err
	}
	if m.tty != nil {
		go watchSize(m.tty, m.w, 0, m.dead)
	}
	return r, nil
}

// boot writes the guest's config and jail, and starts the kernel in its jail.
func (m *Monitor) boot(spec *specs.Spec) (*os.File, error) {
	kernelPath := m.Kernel
	if p := spec.Annotations[AnnotationKernel]; p != "" {
		kernelPath = p
	}
	k, err := FindKernel(kernelPath)
	if err != nil {
		return nil, err
	}
	root, err := hostfs.ParseRootfs(spec.Annotations)
	if err != nil {
		return nil, err
	}
	if m.OwnUserns {
		if err := guestMappings(spec); err != nil {
			return nil, err
		}
	}
	binds, gspec := hostfs.Plan(spec, root)
	kbinds, err := hostfs.KernelBinds(k.Path, m.Init)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(m.dir, guestSpec), gspec); err != nil {
		return nil, err
	}
	kbinds = append(kbinds, hostfs.Bind{Source: filepath.Join(m.dir, guestSpec), Target: hostfs.ConfigPath, ReadOnly: true})
	mem, err := MemoryMiB(spec)
	if err != nil {
		return nil, err
	}
	ncpus, err := guestCPUs(spec)
	if err == nil && ncpus > 1 && !k.SMP {
		err = fmt.Errorf("%w: annotation %s: the guest kernel %s has no SMP", oci.ErrBadConfig, AnnotationCPUs, k.Path)
	}
	if err != nil {
		return nil, err
	}
	// Made here, not by create: the disk's files live in the state dir, which a failed
	// create removes with them.
	diskBinds, diskArg, err := root.Disk(spec.Root.Path, m.dir)
	if err != nil {
		return nil, err
	}
	kbinds = append(kbinds, diskBinds...)
	hostCPUs, err := claimCPU(m.Store, m.st, spec, ncpus)
	if err != nil {
		return nil, err
	}
	if m.st.Rootless { // recorded by create: the monitor is at most root of its own user namespace
		// As runc rootless without a delegated group: the host's hierarchies are root's.
		m.log.Debug("rootless: no host cgroups; the guest's RAM is its limit, and there is no pause")
	} else if m.cgroup, err = makeCgroups(m.Store, m.ID, spec, mem); err != nil {
		return nil, err
	}
	if err := m.cgroup.joinMonitor(); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	// The kernel runs in a user namespace of its own (see userns) unless it must open raw
	// sockets itself: with patch 0010 the monitor opens them and hands them down, after the
	// control line (fd 3).
	firstFD := 0
	if k.RawFDs {
		firstFD = 4
	}
	netArgs, socks, err := m.plugNetwork(spec, firstFD)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range socks {
			f.Close()
		}
	}()
	inUserns := len(netArgs) == 0 || k.RawFDs
	kbinds = append(kbinds, hostfs.Bind{Source: filepath.Join(m.dir, guestNetwork), Target: hostfs.NetworkPath, ReadOnly: true})
	args := append(k.Args(Boot{MemMiB: mem, CPUs: ncpus, Init: hostfs.InitPath, LineFD: 3, LogFD: 2}), netArgs...)
	if diskArg != "" {
		args = append(args, diskArg)
	}
	jail := hostfs.Jail{
		Cgroups: m.cgroup.Dirs(),
		Dir:     filepath.Join(m.dir, "jail"),
		Binds:   append(kbinds, binds...),
		// The memory file is sparse; the tmpfs bound keeps a guest from filling host /dev/shm.
		MemoryMiB: mem + 16,
		CPUs:      hostCPUs,
		Ptrace:    !k.Seccomp,
		Args:      args,
	}
	if err := os.Mkdir(jail.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(m.dir, hostfs.JailFile), &jail); err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "line"), os.NewFile(uintptr(fds[1]), "line")
	defer theirs.Close()
	klog, err := newKernelLog(filepath.Join(m.dir, KernelLog))
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "jail", m.dir)
	// A panicked kernel does not exit by itself: end it, so create fails at once (or the
	// container exits, 255), with the panic in the log tail.
	klog.onPanic = func() { cmd.Process.Signal(unix.SIGKILL) }
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = klog, klog, append([]*os.File{theirs}, socks...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
		// Out of the monitor's session, so its terminal's signals never reach the kernel.
		Setsid: true,
		// The guest must not outlive the monitor. The death signal follows the thread that
		// forked, so that thread stays locked and alive until the kernel exits.
		Pdeathsig: unix.SIGKILL,
	}
	if inUserns {
		if err := userns(cmd.SysProcAttr); err != nil {
			return nil, fmt.Errorf("user namespace: %w", err)
		}
	}
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		m.uml = cmd.Process
		started <- nil
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			m.umlWS = ee.Sys().(syscall.WaitStatus)
		}
		close(m.dead)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start guest: %w", err)
	}
	m.log.WithFields(logrus.Fields{"kernel": k.Path, "mode": k.Mode(), "cpus": hostCPUs, "mem": mem}).Debug("guest booting")
	return ours, nil
}

// awaitReady reads the agent's first frames: Hello, then Ready or Fail.
func (m *Monitor) awaitReady(r *proto.Reader) error {
	type result struct {
		f   proto.Frame
		err error
	}
	frames := make(chan result, 1)
	timer := time.NewTimer(bootTimeout)
	defer timer.Stop()
	for want := proto.Hello; ; want = proto.Ready {
		go func() { f, err := r.Read(); frames <- result{f, err} }()
		var res result
		select {
		case res = <-frames:
		case <-timer.C:
			return fmt.Errorf("guest did not boot within %v; kernel log:\n%s", bootTimeout, m.logTail())
		}
		switch {
		case res.err != nil:
			<-m.dead
			return fmt.Errorf("guest exited while booting (%s); kernel log:\n%s", waitString(m.umlWS), m.logTail())
		case res.f.Type == proto.Fail:
			var e proto.ErrorMsg
			res.f.Decode(&e)
			return errors.New(e.Message)
		case res.f.Type != want:
			return fmt.Errorf("agent sent frame %d, expected %d", res.f.Type, want)
		case want == proto.Hello:
			var h proto.HelloMsg
			if err := res.f.Decode(&h); err != nil || h.Version != proto.Version {
				return fmt.Errorf("agent speaks protocol %d, runuml %d: rebuild runuml-init", h.Version, proto.Version)
			}
		default:
			return nil
		}
	}
}

// waitString says how the kernel process ended, as a shell would.
func waitString(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// logTail returns the end of the kernel log, for errors shown to the user.
func (m *Monitor) logTail() string {
	data, _ := os.ReadFile(filepath.Join(m.dir, KernelLog))
	if len(data) > 2048 {
		data = data[len(data)-2048:]
	}
	return string(data)
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
