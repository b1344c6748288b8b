package guest

import (
	"reflect"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseIDMap(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []syscall.SysProcIDMap
		bad      bool
	}{
		{"host", "         0          0 4294967295\n", []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}, false},
		{"rootless", "         0       1000          1\n", []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}}, false},
		{"subuids", "0 1000 1\n1 100000 65536\n", []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}, false},
		{"empty", "", nil, false},
		{"short line", "0 1000\n", nil, true},
		{"not a number", "0 x 1\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseIDMap([]byte(tc.in))
			if (err != nil) != tc.bad || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseIDMap(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}

// TestIdentity checks the jail's map: each id the monitor has, mapped to itself.
func TestIdentity(t *testing.T) {
	in := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	want := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1, HostID: 1, Size: 65536}}
	if got := identity(in); !reflect.DeepEqual(got, want) {
		t.Errorf("identity(%v) = %v; want %v", in, got, want)
	}
}

// TestToInside checks a rootless spec's mappings: the caller's host id becomes the id the
// monitor's user namespace gives it, any other is refused.
func TestToInside(t *testing.T) {
	own := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}}
	got, err := toInside([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}, own)
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("toInside(0 1000 1) = %v, %v; want %v", got, err, want)
	}
	wide := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	got, err = toInside([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}, wide)
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1, Size: 1000}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("toInside(0 100000 1000) = %v, %v; want %v", got, err, want)
	}
	for _, m := range []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 2}, {ContainerID: 0, HostID: 0, Size: 1}} {
		if got, err := toInside([]specs.LinuxIDMapping{m}, own); err == nil {
			t.Errorf("toInside(%v) = %v; want an error", m, got)
		}
	}
}
