package integration

import (
	"strings"
	"testing"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerSeccomp gives the spec docker's default seccomp profile as dockerd builds it for
// runc (from the spec's capabilities), and no_new_privs off, as docker runs containers.
func dockerSeccomp(t *testing.T) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Process.NoNewPrivileges = false
		profile, err := seccomp.GetDefaultProfile(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Linux.Seccomp = profile
	}
}

// TestSeccompDockerDefault runs a container under docker's default profile: unshare is
// refused with EPERM, ordinary commands work, and the process shows a filter. Without a
// profile the same unshare works (the guest kernel has user namespaces).
func TestSeccompDockerDefault(t *testing.T) {
	e := newEnv(t)
	script := `unshare -U true; echo "unshare $?"; echo hi | cat; ls /bin/sh; grep ^Seccomp: /proc/self/status`
	res := e.run("plain", e.newBundle([]string{"sh", "-c", script}), nil)
	if want := "unshare 0\nhi\n/bin/sh\nSeccomp:\t0\n"; string(res.stdout) != want || res.status != 0 {
		t.Errorf("without a profile: stdout %q, stderr %q, status %d; want %q, 0", res.stdout, res.stderr, res.status, want)
	}
	res = e.run("docker", e.newBundle([]string{"sh", "-c", script}, dockerSeccomp(t)), nil)
	if want := "unshare 1\nhi\n/bin/sh\nSeccomp:\t2\n"; string(res.stdout) != want || res.status != 0 ||
		!strings.Contains(string(res.stderr), "Operation not permitted") {
		t.Errorf("docker's profile: stdout %q, stderr %q, status %d; want %q, EPERM on stderr, 0",
			res.stdout, res.stderr, res.status, want)
	}
}

// TestSeccompExec checks that an exec'd process gets the container's profile (process.json
// carries none) and sees the container's masked paths.
func TestSeccompExec(t *testing.T) {
	e := newEnv(t)
	c := e.create("sx", e.newBundle([]string{"sleep", "100"}, dockerSeccomp(t)))
	e.start(c)
	out, errOut, status, err := e.execRun("sx", execProc("sh", "-c",
		`unshare -U true; echo "unshare $?"; grep ^Seccomp: /proc/self/status /proc/1/status; wc -c < /proc/timer_list`), nil)
	want := "unshare 1\n/proc/self/status:Seccomp:\t2\n/proc/1/status:Seccomp:\t2\n0\n"
	if err != nil || status != 0 || out != want || !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("exec: err %v, status %d, stdout %q, stderr %q; want 0, %q, EPERM on stderr", err, status, out, errOut, want)
	}
	e.rc.Kill(e.ctx, "sx", 9, nil)
	c.wait(t)
	if err := e.rc.Delete(e.ctx, "sx", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// An allow list that busybox's sh and a few applets live within.
var busyboxSyscalls = strings.Fields(`read write open openat close stat fstat lstat newfstatat statx
	poll lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64
	readv writev access faccessat faccessat2 pipe pipe2 select pselect6 sched_yield dup dup2 dup3
	nanosleep clock_nanosleep getpid gettid clone fork vfork execve exit exit_group wait4 kill
	uname fcntl getcwd chdir readlink readlinkat getuid getgid geteuid getegid setpgid getppid
	getpgrp getpgid setsid getresuid getresgid sigaltstack arch_prctl prlimit64 set_tid_address
	set_robust_list rseq futex getrandom getdents64 umask unlink unlinkat clock_gettime
	gettimeofday time sysinfo madvise`)

// TestSeccompAllowList runs a custom profile: everything not listed fails with EPERM (the
// default), and mkdir with the errnoRet its rule gives (EXDEV).
func TestSeccompAllowList(t *testing.T) {
	e := newEnv(t)
	exdev := uint(18)
	res := e.run("allow", e.newBundle([]string{"sh", "-c", `echo start; mkdir /tmp/d; ln -s x /tmp/l; echo end`},
		func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls: []specs.LinuxSyscall{
					{Names: busyboxSyscalls, Action: specs.ActAllow},
					{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &exdev},
				},
			}
		}), nil)
	stderr := string(res.stderr)
	if string(res.stdout) != "start\nend\n" || res.status != 0 || !strings.Contains(stderr, "mkdir: can't create directory '/tmp/d': Invalid cross-device link") ||
		!strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("allow list: stdout %q, stderr %q, status %d; want start and end, EXDEV from mkdir, EPERM from ln, 0",
			res.stdout, stderr, res.status)
	}
}

// TestSeccompRefused checks that a profile the guest cannot apply fails create with the
// reason in the log.
func TestSeccompRefused(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}
	})
	e.clearLog()
	_, err := e.tryCreate("notify", b)
	if err == nil || !strings.Contains(err.Error(), "SCMP_ACT_NOTIFY is not supported") {
		t.Errorf("create with SCMP_ACT_NOTIFY: %v; want it refused", err)
	}
}
