package oci

import (
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags are the mount options that are flags of mount(2).
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

// propagationFlags are the options that change a mount's propagation, each a call of its own.
var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// ParseMountOptions splits mount options into flags, propagation changes and filesystem data.
func ParseMountOptions(options []string) (flags uintptr, propagation []uintptr, data string) {
	var rest []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
		} else if p, ok := propagationFlags[o]; ok {
			propagation = append(propagation, p)
		} else {
			rest = append(rest, o)
		}
	}
	return flags, propagation, strings.Join(rest, ",")
}

// MountOptions lists the mount options runuml recognises (for `features`).
func MountOptions() []string {
	var out []string
	for o := range mountFlags {
		out = append(out, o)
	}
	for o := range propagationFlags {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}
