package hostfs

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/seccomp"
)

// kernelCaps are the only capabilities the kernel process keeps: hostfs acts on the rootfs
// and volumes as their owners would (files of any owner and mode, ownership and set-id bits
// the guest sets), and the network devices are raw sockets (a kernel without patch 0010 opens
// them itself). Everything else is dropped from the bounding set before exec, so the kernel
// (root of its own identity-mapped user namespace, or of the host's, see guest.userns) cannot
// mount, load modules, trace, make device nodes, reach raw I/O, change namespaces or regain
// capabilities; no_new_privs keeps it so.
var kernelCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER,
	unix.CAP_FSETID, unix.CAP_NET_RAW,
}

// nofileLimit bounds the host files a guest holds open (hostfs keeps one per open guest file).
const nofileLimit = 1 << 16

// limitKernel confines the process about to become the kernel: no core dumps (UML aborts when
// its init dies and would leave a core in its cwd), bounded open files, only kernelCaps,
// no_new_privs, and a seccomp filter allowing only what UML uses (kernelSeccomp).
func limitKernel(ptrace bool) error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	var nofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return err
	}
	nofile.Cur, nofile.Max = min(nofile.Cur, nofileLimit), min(nofile.Max, nofileLimit)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return fmt.Errorf("limit open files: %w", err)
	}
	// CAP_SETPCAP, needed for the drops, goes last.
	for c := uintptr(0); c <= 63; c++ {
		if c == unix.CAP_SETPCAP || slices.Contains(kernelCaps, c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SETPCAP, 0, 0, 0); err != nil {
		return fmt.Errorf("drop capability %d: %w", unix.CAP_SETPCAP, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	filter, err := seccomp.Compile(kernelSeccomp(ptrace))
	if err != nil {
		return fmt.Errorf("kernel seccomp filter: %w", err)
	}
	return filter.Install()
}

// kernelAllowed are the host syscalls the kernel process, its helper threads and the stub
// processes that run guest code may make; the filter refuses every other one with EPERM.
// Measured (strace of guests using hostfs, the network, terminals, exec, pause, two CPUs and
// shutdown) and read from the source: UML's os-Linux layer and drivers, hostfs_user.c,
// the stub (arch/um/kernel/skas/stub_exe.c, stub.c) and glibc. Guest syscalls never reach
// the filter's verdict: UML's own filter in each stub traps them (and a trap outranks an
// error); only what the stub page itself calls (mmap, munmap, futex, recvmsg, close,
// arch_prctl, rt_sigreturn) runs on the host. Left out on purpose: mknod (hostfs would make
// FIFOs and device nodes on the host), ptrace (a seccomp-mode kernel only tries it, and
// ignores the error, when it kills a stub), mounts, namespaces, modules, BPF, keys, clocks,
// io_uring and the rest.
var kernelAllowed = []string{
	// Files: the jail's tmpfs, the memory file, hostfs on the rootfs and volumes.
	"read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "lseek",
	"close", "close_range", "dup", "dup2", "dup3", "fcntl", "open", "openat", "creat",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access",
	"faccessat", "faccessat2", "getdents64", "getcwd", "chdir", "mkdir", "mkdirat", "rmdir",
	"unlink", "unlinkat", "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat",
	"rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "chown", "fchown",
	"lchown", "fchownat", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync",
	"utime", "utimes", "utimensat", "futimesat", "umask", "fadvise64",
	// Memory: guest RAM is a file mapped into the kernel and every stub.
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "memfd_create",
	// Signals and timers: UML's interrupts and its clock.
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"sigaltstack", "kill", "tgkill", "tkill", "rt_tgsigqueueinfo", "signalfd", "signalfd4",
	"timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "nanosleep", "clock_nanosleep",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "pause", "restart_syscall",
	// Processes: helper threads, stubs (exec'd from a memfd), their reaping.
	"execve", "execveat", "exit", "exit_group", "wait4", "waitid", "getpid", "getppid",
	"gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getpgrp",
	"setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl",
	"prctl", "personality", "seccomp", "sched_setaffinity", "sched_getaffinity",
	"sched_yield", "getrlimit", "setrlimit", "getrusage", "uname", "sysinfo", "getrandom", "getcpu",
	"futex", "membarrier",
	// Waiting: UML's I/O interrupts.
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "eventfd", "eventfd2", "pipe", "pipe2",
	// Sockets already open or of the families below: the control line, the stubs' fd
	// passing, mconsole, the raw network devices.
	"bind", "connect", "listen", "accept", "accept4", "sendmsg", "recvmsg", "sendmmsg",
	"recvmmsg", "sendto", "recvfrom", "setsockopt", "getsockopt", "getsockname",
	"getpeername", "shutdown",
}

// kernelIoctls are the ioctl requests the kernel makes: terminal modes and size on the
// channels, and the interface index for a raw socket.
var kernelIoctls = []uint64{unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TIOCGWINSZ,
	unix.SIOCGIFINDEX}

// nsFlags are clone's namespace flags.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// kernelSeccomp is the host filter of the kernel process: kernelAllowed, plus a few calls
// allowed only with the arguments UML gives them, plus ptrace and modify_ldt for a kernel in
// ptrace mode (its stubs are traced processes, and guest syscalls are caught by the trace before any
// filter sees them).
func kernelSeccomp(ptrace bool) *specs.LinuxSeccomp {
	eperm, enosys := uint(unix.EPERM), uint(unix.ENOSYS)
	allow := func(name string, index uint, values ...uint64) specs.LinuxSyscall {
		sc := specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow}
		for _, v := range values {
			// Conditions on one argument are alternatives: any of the values allows it.
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{Index: index, Value: v, Op: specs.OpEqualTo})
		}
		return sc
	}
	names := kernelAllowed
	if ptrace {
		names = append(slices.Clone(names), "ptrace", "modify_ldt")
	}
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Syscalls: []specs.LinuxSyscall{
			{Names: names, Action: specs.ActAllow},
			// Threads and stubs, never a new namespace.
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			// clone3's flags are behind a pointer a filter cannot read: ENOSYS, so glibc
			// falls back to clone.
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			allow("socket", 0, unix.AF_UNIX, unix.AF_PACKET),
			allow("socketpair", 0, unix.AF_UNIX),
			allow("ioctl", 1, kernelIoctls...),
			// Its own limits only.
			allow("prlimit64", 0, 0),
		},
	}
}
