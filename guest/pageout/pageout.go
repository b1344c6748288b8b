// Package pageout gives back the host (or guest) memory that an idle process's code holds:
// the pages of its binary and libraries that it touched to start and no longer runs.
package pageout

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Process asks the kernel to reclaim the pages of every private read-only file mapping of
// process pid (its text and read-only data, and its libraries'), in one process_madvise
// call. The kernel leaves alone the pages that another process maps too (the libc every
// process shares, the pages other copies of the program run), and dirty ones; pages the
// process touches again fault back in. It returns the bytes advised.
func Process(pid int) (int, error) {
	ranges, err := readOnlyFileRanges(pid)
	if err != nil || len(ranges) == 0 {
		return 0, err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// struct iovec as two words, base and length: the bases are addresses in pid's memory,
	// never pointers of ours.
	iovs := make([]uint64, 0, 2*len(ranges))
	for _, r := range ranges {
		iovs = append(iovs, r.start, r.end-r.start)
	}
	n, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])),
		uintptr(len(ranges)), unix.MADV_PAGEOUT, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("process_madvise %d: %w", pid, errno)
	}
	return int(n), nil
}

// Self pages out the calling process's code as Process does, after marking it for random
// access (MADV_RANDOM): a page it faults back in is then read alone, without the read-around
// (the host's read_ahead_kb, 8 MiB here) that fault-around would map back in too. A process
// paging itself out faults back at once what it runs on its way out of the call: measured on
// the monitor, 2.4 MiB of its binary stayed mapped without MADV_RANDOM, 1.1 MiB with it.
func Self() (int, error) {
	ranges, err := readOnlyFileRanges(os.Getpid())
	if err != nil {
		return 0, err
	}
	for _, r := range ranges {
		unix.Syscall(unix.SYS_MADVISE, uintptr(r.start), uintptr(r.end-r.start), unix.MADV_RANDOM)
	}
	return Process(os.Getpid())
}

type addrRange struct{ start, end uint64 }

// readOnlyFileRanges returns the private, non-writable mappings of a file in pid.
func readOnlyFileRanges(pid int) ([]addrRange, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []addrRange
	s := bufio.NewScanner(f)
	for s.Scan() {
		if r, ok := parseMapsLine(s.Text()); ok {
			out = append(out, r)
		}
	}
	return out, s.Err()
}

// parseMapsLine takes "start-end perms offset dev inode path" and reports whether it is a
// private read-only mapping of a file (not shared memory, an anonymous mapping, the stack or
// the vdso).
func parseMapsLine(line string) (addrRange, bool) {
	f := strings.Fields(line)
	if len(f) < 6 || len(f[1]) != 4 || f[1][1] == 'w' || f[1][3] != 'p' || !strings.HasPrefix(f[5], "/") {
		return addrRange{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return addrRange{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return addrRange{}, false
	}
	return addrRange{start, end}, true
}
