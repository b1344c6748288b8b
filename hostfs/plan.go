// Package hostfs decides how the container's files reach the guest. The UML process runs
// jailed in a private mount namespace whose root is a small tmpfs ("the jail") holding only
// the kernel and its libraries, the agent, the guest's config, the bundle rootfs and each
// bind-mount source; the guest mounts hostfs from that root, so even guest root cannot name a
// host path outside it (hostfs=DIR alone does not confine: "-o /../../.." escapes it).
// A rootfs may instead be an ext4 image on the guest's ubd block device (rootfs.go, ubd.go):
// then the jail holds the image's files, not the bundle rootfs.
package hostfs

import (
	"fmt"
	"path"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/oci"
)

// Paths inside the jail, which are also the guest's paths of these files before the agent
// pivots into the rootfs.
const (
	RootfsDir  = "/rootfs"
	VolumesDir = "/volumes"
	KernelPath = "/runuml/linux"
	InitPath   = "/runuml/init"
	ConfigPath = "/runuml/config.json"
	// NetworkPath holds the guest's network (netplug.Config).
	NetworkPath = "/runuml/network.json"
	MemoryDir   = "/tmp" // UML's memory file and uml_dir: a private tmpfs
)

// Bind is one host path made visible in the jail.
type Bind struct {
	Source   string `json:"source"` // host path
	Target   string `json:"target"` // path in the jail
	ReadOnly bool   `json:"readOnly,omitempty"`
	Recurse  bool   `json:"recurse,omitempty"`
	Device   bool   `json:"device,omitempty"` // a host device node UML itself opens
}

// Plan returns the binds that make spec's files visible in the jail and a copy of spec for
// the guest, with the root and bind sources rewritten to their guest paths. A rootfs on a
// device (root.OnDevice) is not bound: its disk's files are (Rootfs.Disk).
func Plan(spec *specs.Spec, root Rootfs) ([]Bind, *specs.Spec) {
	g := *spec
	g.Root = &specs.Root{Path: RootfsDir, Readonly: spec.Root.Readonly}
	var binds []Bind
	if !root.OnDevice() {
		// The rootfs is bound writable even when root.readonly is set: the agent creates
		// mount points in it before it makes it read-only, as runc does on the host.
		binds = append(binds, Bind{Source: spec.Root.Path, Target: RootfsDir, Recurse: true})
	}
	g.Mounts = make([]specs.Mount, len(spec.Mounts))
	for i, m := range spec.Mounts {
		g.Mounts[i] = m
		if !oci.IsBind(m) {
			continue
		}
		// Named after the source's last element, so the guest's mountinfo shows it as a
		// bind of .../NAME as runc's does (runtime-tools' mounts validation checks that).
		target := path.Join(VolumesDir, fmt.Sprint(i), path.Base(m.Source))
		binds = append(binds, Bind{
			Source:   m.Source,
			Target:   target,
			ReadOnly: slices.Contains(m.Options, "ro"),
			Recurse:  slices.Contains(m.Options, "rbind"),
		})
		g.Mounts[i].Source = target
	}
	return binds, &g
}
