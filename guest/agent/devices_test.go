package agent

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDeviceRules(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	if got := deviceRules(&specs.Spec{Linux: &specs.Linux{}}); got != nil {
		t.Errorf("no rules in the spec: got %v, want none", got)
	}
	spec := &specs.Spec{Linux: &specs.Linux{
		Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: n(1), Minor: n(11), Access: "w"},
		}},
		Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
			{Path: "/dev/fifo", Type: "p"}, {Path: "/dev/sda", Type: "b", Major: 8}},
	}}
	var got []string
	for _, r := range deviceRules(spec) {
		verb := "deny"
		if r.Allow {
			verb = "allow"
		}
		got = append(got, verb+" "+deviceRule(r))
	}
	want := []string{"deny a *:* rwm", "allow c 1:11 w", "allow c *:* m", "allow b *:* m",
		"allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 1:7 rwm", "allow c 1:8 rwm", "allow c 1:9 rwm",
		"allow c 5:0 rwm", "allow c 136:* rwm", "allow c 5:2 rwm", "allow c 10:200 rwm", "allow c 10:229 rwm", "allow b 8:0 rwm"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
