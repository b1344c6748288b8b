package hostfs

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPlan(t *testing.T) {
	spec := &specs.Spec{
		Root: &specs.Root{Path: "/bundle/rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hosts", Source: "/var/lib/x/hosts", Options: []string{"bind"}},
		},
	}
	binds, g := Plan(spec, Rootfs{Mode: ModeHostfs})
	want := []Bind{
		{Source: "/bundle/rootfs", Target: RootfsDir, Recurse: true},
		{Source: "/srv/data", Target: "/volumes/1/data", ReadOnly: true, Recurse: true},
		{Source: "/var/lib/x/hosts", Target: "/volumes/2/hosts"},
	}
	if len(binds) != len(want) {
		t.Fatalf("binds %+v", binds)
	}
	for i := range want {
		if binds[i] != want[i] {
			t.Errorf("bind %d = %+v, want %+v", i, binds[i], want[i])
		}
	}
	if g.Root.Path != RootfsDir || !g.Root.Readonly || g.Mounts[0].Source != "proc" ||
		g.Mounts[1].Source != "/volumes/1/data" || g.Mounts[2].Source != "/volumes/2/hosts" {
		t.Errorf("guest spec %+v %+v", g.Root, g.Mounts)
	}
	if spec.Mounts[1].Source != "/srv/data" {
		t.Error("Plan changed the caller's spec")
	}
}

// A rootfs on a device is not bound into the jail; the rest of the plan is the same.
func TestPlanOnDevice(t *testing.T) {
	spec := &specs.Spec{
		Root:   &specs.Root{Path: "/bundle/rootfs", Readonly: true},
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind"}}},
	}
	for _, root := range []Rootfs{{Mode: ModeUbd}, {Mode: ModeImage, Image: "/img/base.img"}} {
		binds, g := Plan(spec, root)
		if len(binds) != 1 || binds[0].Source != "/srv/data" {
			t.Errorf("%+v: binds %+v, want only the volume", root, binds)
		}
		if g.Root.Path != RootfsDir || !g.Root.Readonly {
			t.Errorf("%+v: guest root %+v", root, g.Root)
		}
	}
}
