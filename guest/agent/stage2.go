package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/oci"
	"github.com/runuml/runuml/seccomp"
)

// stage2Arg marks the re-exec of runuml-init that runs in the container's new namespaces.
const stage2Arg = "__stage2"

// stage2 reads the spec on fd 3 (sent once the agent has placed it in the container's
// cgroup), sets up the container's filesystem and identity, reports ready, waits for the
// start word, then execs the container's process. It is PID 1 of the container's pid
// namespace, so the process it becomes cannot see or signal the agent. In a user namespace of
// its own it is that namespace's root, and cannot read the guest's config.json (0600, owned
// by a uid the namespace does not map): hence the spec on the socketpair.
func stage2() {
	sc := openSetupChan()
	fail := sc.fail
	var spec *specs.Spec
	err := sc.readJSON(&spec)
	if err != nil {
		fail(fmt.Errorf("container setup: read spec: %w", err))
	}
	if err := enterCgroupNamespace(spec); err != nil {
		fail(err)
	}
	path, err := prepare(spec)
	if err != nil {
		fail(err)
	}
	filter, err := seccomp.Compile(containerSeccomp(spec))
	if err != nil {
		fail(err)
	}
	env := homeEnv(spec.Process.Env, spec.Process.User.UID)
	tty, err := sendReady(sc.f, spec.Process.Terminal)
	if err != nil {
		fail(err)
	}
	sc.waitStart()
	if err := start(spec.Process, tty, filter); err != nil {
		fail(err)
	}
	err = unix.Exec(path, spec.Process.Args, env)
	fail(fmt.Errorf("exec %s: %w", spec.Process.Args[0], err))
}

// prepare does everything that can fail before start, so that create reports it as runc does:
// mounts, pivot into the rootfs, hostname, and finding the executable.
func prepare(spec *specs.Spec) (string, error) {
	if err := setupRootfs(spec); err != nil {
		return "", err
	}
	if spec.Hostname != "" && hasNamespace(spec, specs.UTSNamespace) {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return "", fmt.Errorf("set hostname: %w", err)
		}
	}
	if spec.Domainname != "" && hasNamespace(spec, specs.UTSNamespace) {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return "", fmt.Errorf("set domainname: %w", err)
		}
	}
	return lookPath(spec.Process.Args[0], spec.Process.Env)
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// setupChan is a setup child's (stage 2's or an exec stage's) end of its socketpair with the
// agent, fd 3: JSON lines and the start word come in, the ready word or an error goes out.
type setupChan struct {
	f *os.File
	r *bufio.Reader
}

// openSetupChan readies a setup child: it locks the thread (credentials and capabilities are
// set on it, which then execs: see finalize) and opens fd 3, closed on exec.
func openSetupChan() setupChan {
	runtime.LockOSThread()
	syscall.CloseOnExec(3)
	f := os.NewFile(3, "sync")
	return setupChan{f: f, r: bufio.NewReader(f)}
}

// fail reports err to the agent and exits.
func (c setupChan) fail(err error) {
	fmt.Fprintf(c.f, "%v\n", err)
	os.Exit(1)
}

// readJSON decodes the next line into v.
func (c setupChan) readJSON(v any) error {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// waitStart waits for the start word; it exits if the agent went away or killed the process
// before start.
func (c setupChan) waitStart() {
	if word, _ := c.r.ReadString('\n'); word != wordStart+"\n" {
		os.Exit(1)
	}
}

// lookPath finds name as execve would run it, searching the process's own PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("exec: %q: %w", p, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("exec: %q: permission denied", p)
	}
	return nil
}

// start makes the process's terminal its own, then finalizes it.
func start(p *specs.Process, tty *os.File, filter *seccomp.Filter) error {
	if tty != nil {
		if err := takeTTY(tty, p.User.UID); err != nil {
			return err
		}
	}
	return finalize(p, filter)
}

// finalize takes on the process's limits, identity, capabilities and seccomp filter, last,
// since it drops privileges. Credentials, capabilities and the filter are per thread at the
// syscall level: the caller locks its thread, and this thread is the one that execs, so the
// new program gets them. The filter goes in as runc puts it: as late as possible with
// no_new_privs, else before capabilities are dropped, since loading it then needs
// CAP_SYS_ADMIN.
func finalize(p *specs.Process, filter *seccomp.Filter) error {
	for _, rl := range p.Rlimits {
		res, ok := oci.Rlimits[rl.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			return fmt.Errorf("set %s: %w", rl.Type, err)
		}
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if !p.NoNewPrivileges {
		if err := filter.Install(); err != nil {
			return err
		}
	}
	if err := dropBounding(p.Capabilities); err != nil {
		return err
	}
	// Keep the permitted set across the uid change; the spec's sets are applied after it.
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	gids := make([]int, len(p.User.AdditionalGids))
	for i, g := range p.User.AdditionalGids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setgid(int(p.User.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", p.User.GID, err)
	}
	if err := unix.Setuid(int(p.User.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", p.User.UID, err)
	}
	if err := os.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", p.Cwd, err)
	}
	if err := setCapabilities(p.Capabilities); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		return filter.Install()
	}
	return nil
}

// homeEnv returns env with HOME set from the rootfs's /etc/passwd when the spec lacks it,
// as runc does.
func homeEnv(env []string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	home := "/"
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Split(s.Text(), ":")
			if len(fields) >= 6 && fields[2] == strconv.Itoa(int(uid)) {
				home = fields[5]
				break
			}
		}
	}
	return append(env, "HOME="+home)
}

// containerSeccomp is the spec's seccomp profile, or nil.
func containerSeccomp(spec *specs.Spec) *specs.LinuxSeccomp {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Seccomp
}
