package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// kernel is one UML kernel binary with the parameters of one benchmark row.
type kernel struct {
	name string
	path string
	args []string
}

// env is what every guest of a run shares.
type env struct {
	root   string // hostfs root: /init, /bin/true, /dev nodes
	shm    string // TMPDIR of the UML process: its memory file lives here
	umlDir string // uml_dir=: umid directories
	cpu    int    // host CPU the guest is pinned to
}

// guest is one booted UML process.
type guest struct {
	cmd   *exec.Cmd
	conn  *os.File // host end of ssl1=fd:3
	rd    *bufio.Reader
	log   string // kernel messages (con0)
	start time.Time
	ready time.Duration // exec -> init's first byte
}

// commonArgs are the parameters every guest needs, whatever the kernel.
func (e *env) commonArgs(logFD int) []string {
	return []string{
		"mem=256M",
		"root=/dev/root", "rootfstype=hostfs", "rootflags=" + e.root,
		"init=/init",
		"uml_dir=" + e.umlDir,
		"ssl1=fd:3", // the host<->init channel, /dev/ttyS1
		"con0=null,fd:" + strconv.Itoa(logFD),
	}
}

// boot starts k with init in the given mode and waits until init has
// written its first byte on the channel.
func (e *env) boot(k kernel, mode string, extra ...string) (*guest, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so the host end gets read deadlines from the poller.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		return nil, err
	}
	host := os.NewFile(uintptr(fds[0]), "chan-host")
	gend := os.NewFile(uintptr(fds[1]), "chan-guest")
	defer gend.Close()
	logf, err := os.CreateTemp(e.shm, "console-*.log")
	if err != nil {
		host.Close()
		return nil, err
	}
	defer logf.Close()

	args := append(e.commonArgs(4), k.args...)
	args = append(args, "bench="+mode)
	args = append(args, extra...)
	cmd := exec.Command(k.path, args...)
	cmd.ExtraFiles = []*os.File{gend, logf} // fd 3, fd 4
	cmd.Env = []string{"TMPDIR=" + e.shm, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = e.shm // UML would drop a core file here on abort
	g := &guest{cmd: cmd, conn: host, rd: bufio.NewReader(host), log: logf.Name()}

	g.start = time.Now()
	if err := startPinned(cmd, e.cpu); err != nil {
		host.Close()
		return nil, err
	}
	// One byte 'R' from init; keep reading past anything else.
	_ = host.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := g.rd.ReadByte()
	if err != nil || b != 'R' {
		g.kill()
		return nil, fmt.Errorf("%s: no ready byte from init (%v, %q); console log:\n%s", k.name, err, b, tail(g.log))
	}
	g.ready = time.Since(g.start)
	_ = host.SetReadDeadline(time.Time{})
	return g, nil
}

// calibrateLPJ boots path once without lpj= and without quiet, and reads
// the loops_per_jiffy the kernel calibrated from its console log.
func (e *env) calibrateLPJ(path string) (int, error) {
	g, err := e.boot(kernel{name: "lpj calibration", path: path}, "boot")
	if err != nil {
		return 0, err
	}
	log, _ := os.ReadFile(g.log)
	if _, err := g.wait(60 * time.Second); err != nil {
		return 0, err
	}
	m := lpjRE.FindSubmatch(log)
	if m == nil {
		return 0, fmt.Errorf("%s: no lpj= in the console log", path)
	}
	return strconv.Atoi(string(m[1]))
}

var lpjRE = regexp.MustCompile(`Calibrating delay loop.*\(lpj=([0-9]+)\)`)

// wait waits for the UML process to exit and returns exec -> exit. The host
// end of the channel stays open until then: EOF on it would hang up the
// guest's tty.
func (g *guest) wait(timeout time.Duration) (time.Duration, error) {
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		g.kill()
		err = errors.New("timeout waiting for poweroff")
		<-done
	}
	el := time.Since(g.start)
	g.conn.Close()
	if err != nil {
		return el, fmt.Errorf("%v; console log:\n%s", err, tail(g.log))
	}
	os.Remove(g.log)
	return el, nil
}

// kill ends the whole UML process group (UML calls setsid at start).
func (g *guest) kill() {
	if p := g.cmd.Process; p != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		_ = p.Kill()
	}
}

// addrNoRandomize is ADDR_NO_RANDOMIZE from <sys/personality.h>.
const addrNoRandomize = 0x0040000

// startPinned starts cmd pinned to one CPU and with ASLR off. os/exec forks
// from the calling thread, so the child inherits that thread's affinity and
// personality: no taskset or setarch process adds to the measured time.
// UML 7.x turns ASLR off itself and re-execs through /proc/self/exe when it
// finds it on; starting it with ADDR_NO_RANDOMIZE saves that exec and the
// need for /proc in a jail.
func startPinned(cmd *exec.Cmd, cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return err
	}
	pers, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	unix.RawSyscall(unix.SYS_PERSONALITY, pers|addrNoRandomize, 0, 0)
	err := cmd.Start()
	unix.RawSyscall(unix.SYS_PERSONALITY, pers, 0, 0)
	if e := unix.SchedSetaffinity(0, &old); e != nil && err == nil {
		err = e
	}
	return err
}

// seccompProcs counts the host processes under pid that run with a seccomp
// filter (Seccomp: 2 in /proc/PID/status): UML's userspace stubs in
// seccomp mode. In ptrace mode there are none.
func seccompProcs(pid int) int {
	n := 0
	var walk func(int)
	walk = func(p int) {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err == nil && strings.Contains(string(st), "\nSeccomp:\t2\n") {
			n++
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					walk(c)
				}
			}
		}
	}
	walk(pid)
	return n
}

// tail returns the end of a console log for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
