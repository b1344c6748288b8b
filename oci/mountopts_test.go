package oci

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  []string
		flags uintptr
		prop  []uintptr
		data  string
	}{
		{[]string{"nosuid", "noexec", "nodev"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, nil, ""},
		{[]string{"rbind", "ro", "rprivate"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, []uintptr{unix.MS_PRIVATE | unix.MS_REC}, ""},
		{[]string{"ro", "rw"}, 0, nil, ""},
		{[]string{"nosuid", "mode=755", "size=65536k"}, unix.MS_NOSUID, nil, "mode=755,size=65536k"},
		{[]string{"newinstance", "ptmxmode=0666", "gid=5"}, 0, nil, "newinstance,ptmxmode=0666,gid=5"},
	} {
		flags, prop, data := ParseMountOptions(tc.opts)
		if flags != tc.flags || !slices.Equal(prop, tc.prop) || data != tc.data {
			t.Errorf("%v: %#x %v %q; want %#x %v %q", tc.opts, flags, prop, data, tc.flags, tc.prop, tc.data)
		}
	}
}
