package container

import (
	"os"
	"testing"
)

func TestRootless(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want bool
		bad  bool
	}{
		{"true", true, false},
		{"false", false, false},
		{"yes", false, true},
	} {
		got, err := Rootless(tc.flag)
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("Rootless(%q) = %v, %v; want %v, error %v", tc.flag, got, err, tc.want, tc.bad)
		}
	}
	if auto, _ := Rootless("auto"); os.Geteuid() != 0 && !auto {
		t.Errorf("Rootless(auto) as uid %d = false", os.Geteuid())
	}
}

func TestStateRoot(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got, _ := StateRoot("/tmp/x/../r"); got != "/tmp/r" {
		t.Errorf("StateRoot(/tmp/x/../r) = %s; want /tmp/r", got)
	}
	want := "/run/user/1000/runuml"
	if os.Geteuid() == 0 && !honorXDG() {
		want = DefaultRoot // runc's rule: host root keeps /run
	}
	if got, _ := StateRoot(""); got != want {
		t.Errorf("StateRoot() as uid %d = %s; want %s", os.Geteuid(), got, want)
	}
}
