// Command hostilekernel stands in for a guest kernel the container has taken over (the
// threat model allows it): runuml execs it as the kernel, in the jail, under the kernel's
// host confinement, and it makes host syscalls the UML kernel never makes, printing what
// each gave to its stderr (the kernel log), one "name: result" line each, then exits 1.
// getpid and uname, which UML makes, show the filter lets the kernel's own syscalls by.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	report := func(name string, err error) {
		res := "ok"
		if err != nil {
			res = err.Error()
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, res)
	}
	fmt.Fprintf(os.Stderr, "getpid: %d\n", unix.Getpid())
	var u unix.Utsname
	report("uname", unix.Uname(&u))
	// Would work for any process in the container's network namespace.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	report("socket inet", err)
	unix.Close(fd)
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	report("socket netlink", err)
	unix.Close(fd)
	// Allowed by the filter, and CAP_NET_RAW is kept, but only in the kernel's own user
	// namespace, not in the host's, which owns the container's network namespace.
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	report("socket packet", err)
	unix.Close(fd)
	// A FIFO needs no capability; /tmp is the jail's writable memory tmpfs.
	report("mknod fifo", unix.Mknod("/tmp/fifo", unix.S_IFIFO|0o600, 0))
	fd, err = unix.InotifyInit1(0)
	report("inotify_init1", err)
	unix.Close(fd)
	// The "shocker" escape: with CAP_DAC_READ_SEARCH (hostfs keeps it), a file handle opens
	// any inode of the filesystem a bound directory lives on, outside the jail; 2 is the
	// root inode of ext4, xfs and tmpfs alike.
	_, _, err = unix.NameToHandleAt(unix.AT_FDCWD, "/rootfs", 0)
	report("name_to_handle_at", err)
	if dir, err := unix.Open("/rootfs", unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		fd, err = unix.OpenByHandleAt(dir, unix.NewFileHandle(1, []byte{2, 0, 0, 0, 0, 0, 0, 0}), unix.O_RDONLY)
		report("open_by_handle_at", err)
	}
	os.Exit(1)
}
