package hostfs

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
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
// its init dies and would leave a core in its cwd), bounded open files, only kernelCaps, and
// no_new_privs.
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
	return nil
}
