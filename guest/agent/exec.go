package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/seccomp"
)

// execArg marks the re-exec of runuml-init that becomes a process exec'd into the container.
const execArg = "__exec"

// execNamespaces are joined by the thread that forks an exec'd process; its mount namespace
// is entered by chroot into the container init's root instead, since a multithreaded Go
// process cannot setns into a mount namespace.
var execNamespaces = []string{"ipc", "uts", "cgroup", "pid"}

// execProcess runs process p in the container of init (whose spec is spec, specLine as one
// line of JSON) as process id, and starts it. The container's spec goes to the exec'd process
// after p (its seccomp profile applies; it cannot read config.json in a user namespace). In a
// container with a user namespace the child is the joiner (userns.go), which enters it and
// execs runuml-init.
func execProcess(w *proto.Writer, init *process, spec *specs.Spec, specLine []byte, id uint32, p *specs.Process) (*process, error) {
	procJSON, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	initPid := strconv.Itoa(init.pid)
	s := spawn{path: "/proc/self/exe", args: []string{"runuml-init", execArg, initPid},
		input: append(append(procJSON, '\n'), specLine...)}
	if userNamespace(spec) {
		joiner, err := joinerPath()
		if err != nil {
			return nil, err
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		userns, err := os.Open("/proc/" + initPid + "/ns/user")
		if err != nil {
			return nil, fmt.Errorf("container namespace: %w", err)
		}
		defer userns.Close()
		s.path, s.args, s.extra = joiner, []string{"runuml-userns", exe, execArg, initPid}, []*os.File{userns}
	}
	// The container's oomScoreAdj unless process.json has one.
	oom := p.OOMScoreAdj
	if oom == nil && spec.Process != nil {
		oom = spec.Process.OOMScoreAdj
	}
	result := make(chan error, 1)
	var proc *process
	go func() {
		// This thread joins the container's namespaces and is never unlocked, so it ends
		// with this goroutine instead of serving others.
		runtime.LockOSThread()
		cg, err := openContainerCgroup() // before joining the cgroup namespace
		if err != nil {
			result <- err
			return
		}
		defer cg.close()
		for _, ns := range execNamespaces {
			if err := joinNamespace(init.pid, ns); err != nil {
				result <- err
				return
			}
		}
		// Counted against the container's pids limit from before it execs.
		s.setup = func(pid int) error { return placeChild(pid, cg, oom) }
		proc, err = newProcess(w, id, s, p.Terminal)
		if err == nil {
			err = proc.start()
		}
		result <- err
	}()
	return proc, <-result
}

func joinNamespace(pid int, ns string) error {
	path := fmt.Sprintf("/proc/%d/ns/%s", pid, ns)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, 0); err != nil {
		return fmt.Errorf("join %s: %w", path, err)
	}
	return nil
}

// execStage runs in the exec'd process: it reads the process and the container's spec from
// fd 3, enters the container's root, reports ready, waits for the start word and execs.
func execStage(initPid string) {
	sc := openSetupChan()
	fail := sc.fail
	var p specs.Process
	err := sc.readJSON(&p)
	if err != nil {
		fail(fmt.Errorf("exec: read process: %w", err))
	}
	if len(p.Args) == 0 {
		fail(fmt.Errorf("exec: process.args must not be empty"))
	}
	// The container's seccomp profile applies to exec'd processes too (process.json has none).
	var spec specs.Spec
	if err := sc.readJSON(&spec); err != nil {
		fail(fmt.Errorf("exec: read container spec: %w", err))
	}
	filter, err := seccomp.Compile(containerSeccomp(&spec))
	if err != nil {
		fail(err)
	}
	if err := unix.Chroot("/proc/" + initPid + "/root"); err != nil {
		fail(fmt.Errorf("exec: enter container root: %w", err))
	}
	if err := os.Chdir("/"); err != nil {
		fail(err)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		fail(err)
	}
	env := homeEnv(p.Env, p.User.UID)
	tty, err := sendReady(sc.f, p.Terminal)
	if err != nil {
		fail(err)
	}
	sc.waitStart()
	if err := start(&p, tty, filter); err != nil {
		fail(err)
	}
	err = unix.Exec(path, p.Args, env)
	fail(fmt.Errorf("exec %s: %w", p.Args[0], err))
}
