package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The container's processes live in a cgroup v2 group of the guest kernel, which enforces
// linux.resources.pids.limit there. The host's cgroups cannot: UML runs every guest process
// in a few host tasks, so the host counts UML's tasks, not the container's processes. The
// agent itself stays in the root group, outside the limit.
const (
	cgroupRoot      = "/sys/fs/cgroup"
	containerCgroup = cgroupRoot + "/container"
)

// mountCgroup mounts the guest's cgroup2 hierarchy at cgroupRoot (sysfs on /sys first) in the
// caller's mount namespace, unless it is there already.
func mountCgroup() error {
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	if unix.Statfs("/sys", &st) != nil || st.Type != unix.SYSFS_MAGIC {
		if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount /sys: %w", err)
		}
	}
	if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount cgroup2: %w", err)
	}
	return nil
}

// pidsLimit returns the spec's pids limit as pids.max takes it: "max" when there is none.
func pidsLimit(spec *specs.Spec) (string, bool) {
	if spec.Linux == nil || spec.Linux.Resources == nil || spec.Linux.Resources.Pids == nil ||
		spec.Linux.Resources.Pids.Limit == nil || *spec.Linux.Resources.Pids.Limit <= 0 {
		return "max", false
	}
	return strconv.FormatInt(*spec.Linux.Resources.Pids.Limit, 10), true
}

// prepareContainerCgroup runs in the agent before the stage-2 child starts: it makes the
// container's groups, with the spec's pids limit and device rules, and opens them, for the
// agent to move the child in (a child in a user namespace of its own may not write the
// guest's cgroup files). A guest kernel without cgroup2 fails only a spec that asks for a pids
// limit; it returns nil when there is no group.
func prepareContainerCgroup(spec *specs.Spec) (*cgroupProcs, error) {
	if err := makeDevicesCgroup(spec); err != nil {
		return nil, err
	}
	limit, limited := pidsLimit(spec)
	if err := makeContainerCgroup(limit); err != nil && limited {
		return nil, fmt.Errorf("pids limit %s in the guest: %w", limit, err)
	}
	return openContainerCgroup()
}

// enterCgroupNamespace runs in the stage-2 child once the agent placed it in the container's
// group: with a cgroup namespace in the spec it unshares a new one, rooted at that group (as
// runc's init does after its parent placed it), so the container sees its group as "/" and
// its cgroup mount shows only that group.
func enterCgroupNamespace(spec *specs.Spec) error {
	if !hasNamespace(spec, specs.CgroupNamespace) {
		return nil
	}
	// The caller's thread is the one that execs, so the new namespace is the process's.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare cgroup namespace: %w", err)
	}
	return nil
}

func makeContainerCgroup(limit string) error {
	if err := mountCgroup(); err != nil {
		return err
	}
	if err := writeCgroup(cgroupRoot, "cgroup.subtree_control", "+pids"); err != nil {
		return err
	}
	if err := os.Mkdir(containerCgroup, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return writeCgroup(containerCgroup, "pids.max", limit)
}

func writeCgroup(dir, file, value string) error {
	f, err := os.OpenFile(dir+"/"+file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s/%s: %w", value, dir, file, err)
	}
	return nil
}

// cgroupProcs are the container groups' cgroup.procs (pids in cgroup2, devices in v1),
// opened by the agent before it joins the container's cgroup namespace: the kernel checks a
// move against the namespace of the opener, and the agent's own group lies outside the
// container's.
type cgroupProcs struct{ files []*os.File }

// openContainerCgroup opens the container's groups for adding processes; nil (and no error)
// when the container has none (a guest kernel without cgroups).
func openContainerCgroup() (*cgroupProcs, error) {
	c := &cgroupProcs{}
	if mountCgroup() == nil {
		if err := c.open(containerCgroup); err != nil {
			return nil, err
		}
	}
	var st unix.Statfs_t
	if unix.Statfs(devicesRoot, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
		if err := c.open(containerDevices); err != nil {
			c.close()
			return nil, err
		}
	}
	if len(c.files) == 0 {
		return nil, nil
	}
	return c, nil
}

// open adds dir's cgroup.procs, if the group exists.
func (c *cgroupProcs) open(dir string) error {
	f, err := os.OpenFile(dir+"/cgroup.procs", os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container cgroup: %w", err)
	}
	c.files = append(c.files, f)
	return nil
}

// add moves process pid into the container's groups, so it counts against its pids limit
// and is bound by its device rules.
func (c *cgroupProcs) add(pid int) error {
	if c == nil {
		return nil
	}
	for _, f := range c.files {
		if _, err := f.WriteString(strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move process %d into the container cgroup %s: %w", pid, f.Name(), err)
		}
	}
	return nil
}

func (c *cgroupProcs) close() {
	if c != nil {
		for _, f := range c.files {
			f.Close()
		}
	}
}
