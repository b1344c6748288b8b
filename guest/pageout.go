package guest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pageOutDelay is how long after create the monitor gives back its binary's pages: past the
// start of a container that is started at once, as `run` and docker do.
const pageOutDelay = 2 * time.Second

// pageOutBinary asks the host to reclaim the pages of the runuml binary mapped in this process:
// a monitor touches most of its text once (start-up, the guest's boot) and then waits, so an
// idle container need not keep them resident. Pages it needs again fault back in. Pages that
// other processes map (other monitors) are left alone by the kernel.
func pageOutBinary() {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[5] != self || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_PAGEOUT)
	}
}
