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
// the guest sets), and the network devices are raw sockets. Everything else is dropped from
// the bounding set before exec, so the kernel (root in the container's user namespace, the
// host's) cannot mount, load modules, trace, make device nodes, reach raw I/O, change
// namespaces or regain capabilities; no_new_privs keeps it so.
var kernelCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER,
	unix.CAP_FSETID, unix.CAP_NET_RAW,
}

// nofileLimit bounds the host files a guest holds open (hostfs keeps one per open guest file).
const nofileLimit = 1 << 16

// limitKernel confines the process about to become the kernel: no core dumps (UML aborts when
// its init dies and would leave a core in its cwd), bounded open files, only kernelCaps,
// no_new_privs, and a seccomp filter refusing kernelDenied.
func limitKernel() error {
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
	filter, err := seccomp.Compile(kernelSeccomp())
	if err != nil {
		return fmt.Errorf("kernel seccomp filter: %w", err)
	}
	return filter.Install()
}

// kernelDenied are host syscalls the kernel process and its helpers never make, refused with
// EPERM by a seccomp filter: mounts and namespaces, tracing and other processes' memory,
// modules, BPF, keys, io_uring, clocks, and the like. A deny list, not an allow list: the
// guest's own syscalls run in UML's stub processes, which inherit this filter under UML's own,
// and an error (unlike a kill) never overrides UML's trap of them. The namespace flags of clone
// are refused too; clone3, whose flags a filter cannot see, gets ENOSYS, so glibc falls back to
// clone.
var kernelDenied = []string{
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at",
	"name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
	"perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "reboot", "swapon", "swapoff", "acct", "quotactl",
	"quotactl_fd", "syslog", "lookup_dcookie", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "vhangup", "uselib",
	"fanotify_init", "mknod", "mknodat",
}

// nsFlags are clone's namespace flags.
var nsFlags = []uint64{unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET}

func kernelSeccomp() *specs.LinuxSeccomp {
	enosys := uint(unix.ENOSYS)
	clone := specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActErrno}
	for _, f := range nsFlags {
		// Conditions on one argument are alternatives: any namespace flag refuses it.
		clone.Args = append(clone.Args, specs.LinuxSeccompArg{Index: 0, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual})
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: kernelDenied, Action: specs.ActErrno},
			clone,
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
}
