package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/runuml/runuml/oci"
)

// The guest's host processes (the jail, the kernel and every helper it forks) live in host
// cgroups of their own, which limit and account the whole guest:
//   - on a cgroup v2 host (unified hierarchy at /sys/fs/cgroup): one group with the cpu,
//     cpuset, memory and pids controllers, also frozen by pause (cgroup.freeze);
//   - on a hybrid host (v1 controllers, v2 at /sys/fs/cgroup/unified with no controllers): a
//     group in each of the v1 memory, cpu, cpuacct, pids and cpuset hierarchies for limits and
//     accounting, and a group in the v2 hierarchy for pause;
//   - on a v1-only host: the v1 groups; there is no pause.
//
// Every group has the same path in its hierarchy: the spec's linux.cgroupsPath when it is
// a plain path, else /runuml/ID-HASH (ids are unique only per --root, hence the hash).
const (
	cgroupMount   = "/sys/fs/cgroup"
	hybridUnified = "/sys/fs/cgroup/unified"
	cgroupFile    = "cgroup.json" // in the state dir: where the groups are
)

// v1Controllers are the v1 hierarchies a guest gets a group in, when the host has them.
var v1Controllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Pids, cgroup1.Cpuset, cgroup1.Devices}

// v2Controllers are the controllers a guest's group has on a cgroup v2 host.
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

// errNoFreezer is returned by pause on a host without a cgroup v2 hierarchy.
var errNoFreezer = errors.New("pause needs a cgroup v2 hierarchy on the host")

// Cgroups records where one guest's host groups are. The monitor makes them at create and
// writes this record to the state dir; events, update and delete read it from there.
type Cgroups struct {
	Path     string         `json:"path"`           // the groups' path in each hierarchy, e.g. /runuml/ID-HASH
	V1       []cgroup1.Name `json:"v1,omitempty"`   // v1 hierarchies holding a group, under /sys/fs/cgroup
	V2       string         `json:"v2,omitempty"`   // mount point of the v2 hierarchy holding a group
	Pure     bool           `json:"pure,omitempty"` // V2 is the host's only hierarchy: limits are there
	GuestMiB int            `json:"guestMiB"`       // the RAM the guest booted with
}

// cgroupName names the group of container id in store: ids are unique only per --root.
func cgroupName(store oci.Store, id string) string {
	h := fnv.New32a()
	h.Write([]byte(store.Root))
	return fmt.Sprintf("%s-%08x", id, h.Sum32())
}

// cgroupPath returns the path of the guest's groups: the spec's cgroupsPath (a relative one
// is taken from the hierarchy's root; systemd's "slice:prefix:name" form, which docker and
// containerd send with --systemd-cgroup, becomes the path systemd would give that scope),
// else runuml/ID-HASH.
func cgroupPath(store oci.Store, id string, spec *specs.Spec) string {
	if spec != nil && spec.Linux != nil {
		if p := spec.Linux.CgroupsPath; p != "" {
			if slice, prefix, name, ok := systemdPath(p); ok {
				return systemdCgroupPath(slice, prefix, name)
			}
			return filepath.Join("/", p)
		}
	}
	return "/runuml/" + cgroupName(store, id)
}

// systemdPath splits cgroupsPath p of systemd's form "slice:prefix:name".
func systemdPath(p string) (slice, prefix, name string, ok bool) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 || parts[2] == "" || strings.Contains(p, "/") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// systemdCgroupPath is where systemd puts unit prefix-name.scope of slice (default
// system.slice): each dash of a slice's name is a level, "a-b.slice" lives in
// /a.slice/a-b.slice. A name that is itself a slice is used as it is, as runc does. The
// groups are made directly in the hierarchies, not through systemd's D-Bus API: runuml's
// host groups hold the UML process, which systemd need not manage.
func systemdCgroupPath(slice, prefix, name string) string {
	if slice == "" {
		slice = "system.slice"
	}
	dir := "/"
	if slice != "-.slice" {
		parts := strings.Split(strings.TrimSuffix(slice, ".slice"), "-")
		for i := range parts {
			dir = filepath.Join(dir, strings.Join(parts[:i+1], "-")+".slice")
		}
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			unit = prefix + "-" + name
		}
		unit += ".scope"
	}
	return filepath.Join(dir, unit)
}

// hostLayout returns what this host has: the v1 hierarchies among v1Controllers, and the
// mount point of a cgroup v2 hierarchy ("" without one) and whether it is the only one.
func hostLayout() (v1 []cgroup1.Name, v2 string, pure bool) {
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err == nil {
		return nil, cgroupMount, true
	}
	for _, n := range v1Controllers {
		if _, err := os.Stat(filepath.Join(cgroupMount, string(n), "cgroup.procs")); err == nil {
			v1 = append(v1, n)
		}
	}
	if _, err := os.Stat(filepath.Join(hybridUnified, "cgroup.controllers")); err == nil {
		v2 = hybridUnified
	}
	return v1, v2, false
}

// makeCgroups creates the guest's groups with the container's resources applied for a
// guest of guestMiB of RAM (see hostResources), and records them in the state dir. On
// failure nothing is left behind. It returns nil on a host without cgroups.
func makeCgroups(store oci.Store, id string, spec *specs.Spec, guestMiB int) (*Cgroups, error) {
	v1, v2, pure := hostLayout()
	if len(v1) == 0 && v2 == "" {
		return nil, nil
	}
	c := &Cgroups{Path: cgroupPath(store, id, spec), V1: v1, V2: v2, Pure: pure, GuestMiB: guestMiB}
	var r *specs.LinuxResources
	if spec.Linux != nil {
		r = spec.Linux.Resources
	}
	res, err := hostResources(r, guestMiB, true)
	if err == nil {
		err = c.create(res)
	}
	if err == nil {
		err = writeJSON(filepath.Join(store.Dir(id), cgroupFile), c)
	}
	if err != nil {
		removeCgroup(c)
		return nil, fmt.Errorf("cgroup %s: %w", c.Path, err)
	}
	return c, nil
}

func (c *Cgroups) create(res *specs.LinuxResources) error {
	if len(c.V1) > 0 {
		if _, err := cgroup1.New(cgroup1.StaticPath(c.Path), res, cgroup1.WithHierarchy(c.v1Hierarchy)); err != nil {
			return err
		}
	}
	switch {
	case c.Pure:
		m, err := cgroup2.NewManager(c.V2, c.Path, &cgroup2.Resources{})
		if err != nil {
			return err
		}
		// Enabled whether or not a limit is set, so the group always accounts the guest.
		avail, err := m.RootControllers()
		if err != nil {
			return err
		}
		var want []string
		for _, ctl := range v2Controllers {
			if strings.Contains(" "+strings.Join(avail, " ")+" ", " "+ctl+" ") {
				want = append(want, ctl)
			}
		}
		if err := m.ToggleControllers(want, cgroup2.Enable); err != nil {
			return err
		}
		return m.Update(cgroup2.ToResources(res))
	case c.V2 != "":
		return os.MkdirAll(filepath.Join(c.V2, c.Path), 0o755) // for the freezer alone
	}
	return nil
}

// v1Hierarchy is the cgroup1 hierarchy of the guest's v1 groups.
func (c *Cgroups) v1Hierarchy() ([]cgroup1.Subsystem, error) {
	var out []cgroup1.Subsystem
	for _, n := range c.V1 {
		switch n {
		case cgroup1.Memory:
			out = append(out, cgroup1.NewMemory(cgroupMount, cgroup1.OptionalSwap()))
		case cgroup1.Cpu:
			out = append(out, cgroup1.NewCpu(cgroupMount))
		case cgroup1.Cpuacct:
			out = append(out, cgroup1.NewCpuacct(cgroupMount))
		case cgroup1.Pids:
			out = append(out, cgroup1.NewPids(cgroupMount))
		case cgroup1.Cpuset:
			out = append(out, cgroup1.NewCpuset(cgroupMount))
		case cgroup1.Devices:
			out = append(out, cgroup1.NewDevices(cgroupMount))
		}
	}
	return out, nil
}

// Dirs returns the directories of the guest's groups; a process joins the guest by writing
// its pid to cgroup.procs in each. A nil Cgroups has none.
func (c *Cgroups) Dirs() []string {
	if c == nil {
		return nil
	}
	var dirs []string
	for _, n := range c.V1 {
		dirs = append(dirs, filepath.Join(cgroupMount, string(n), c.Path))
	}
	if c.V2 != "" {
		dirs = append(dirs, filepath.Join(c.V2, c.Path))
	}
	return dirs
}

// freezerDir is the v2 group that cgroup.freeze stops whole, "" without one.
func (c *Cgroups) freezerDir() string {
	if c == nil || c.V2 == "" {
		return ""
	}
	return filepath.Join(c.V2, c.Path)
}

// removeCgroups removes the guest's groups, the monitor having left them.
func (m *Monitor) removeCgroups() {
	m.cgroup.leaveMonitor()
	removeCgroup(m.cgroup)
}

// removeCgroup removes the guest's groups once its processes are gone.
func removeCgroup(c *Cgroups) {
	for _, dir := range c.Dirs() {
		for i := 0; i < 50; i++ {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond) // EBUSY: the last process may still be leaving
		}
	}
}

// freeze freezes (or thaws) the guest's v2 group and waits until the kernel reports it done.
func freeze(c *Cgroups, frozen bool) error {
	dir := c.freezerDir()
	if dir == "" {
		return errNoFreezer
	}
	want := "0"
	if frozen {
		want = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(want), 0); err != nil {
		return fmt.Errorf("cgroup.freeze: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		events, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return err
		}
		if strings.Contains(string(events), "frozen "+want) {
			return nil
		}
	}
	return fmt.Errorf("cgroup.freeze: the guest did not reach frozen=%s", want)
}

// LoadCgroups reads the record of container id's groups from its state dir. ErrNotExist
// means the guest has none (a host without cgroups, or a create that did not get that far).
func LoadCgroups(store oci.Store, id string) (*Cgroups, error) {
	data, err := os.ReadFile(filepath.Join(store.Dir(id), cgroupFile))
	if err != nil {
		return nil, err
	}
	var c Cgroups
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("container %s: corrupt %s: %w", id, cgroupFile, err)
	}
	return &c, nil
}

// RemoveCgroup removes container id's groups if a killed monitor left them behind.
func RemoveCgroup(store oci.Store, id string) {
	c, err := LoadCgroups(store, id)
	if err != nil {
		// No record: the default groups, if the monitor got as far as making them.
		v1, v2, _ := hostLayout()
		c = &Cgroups{Path: "/runuml/" + cgroupName(store, id), V1: v1, V2: v2}
	}
	removeCgroup(c)
	logrus.WithField("id", id).Debug("cgroups removed")
}

// joinMonitor puts the monitor in the guest's v1 groups, not in the v2 group that pause
// freezes (a frozen monitor could not answer resume): containerd's shim reads a container's
// stats and OOM events from the cgroups of the container's pid, which is the monitor's.
func (c *Cgroups) joinMonitor() error {
	if c == nil {
		return nil
	}
	for _, n := range c.V1 {
		if err := writePid(filepath.Join(cgroupMount, string(n), c.Path)); err != nil {
			return err
		}
	}
	return nil
}

// leaveMonitor moves the monitor to each v1 hierarchy's root, so the groups can be removed.
func (c *Cgroups) leaveMonitor() {
	if c == nil {
		return
	}
	for _, n := range c.V1 {
		writePid(filepath.Join(cgroupMount, string(n)))
	}
}

func writePid(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
}
