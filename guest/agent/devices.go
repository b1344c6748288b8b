package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The spec's device rules (linux.resources.devices) are enforced by the guest kernel's v1
// devices controller, in a group of its own that the container's processes join: a container
// root that may not use a device cannot open or mknod it, though it is root of the guest's
// /dev. The hierarchy is mounted on the guest's devtmpfs, which the container never sees (its
// /dev is a tmpfs of its own).
const (
	devicesRoot      = "/dev/.runuml-devices"
	containerDevices = devicesRoot + "/container"
)

// mountDevices mounts the guest's v1 devices hierarchy at devicesRoot in the caller's mount
// namespace, unless it is there already.
func mountDevices() error {
	var st unix.Statfs_t
	if unix.Statfs(devicesRoot, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
		return nil
	}
	if err := os.Mkdir(devicesRoot, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := unix.Mount("cgroup", devicesRoot, "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "devices"); err != nil {
		return fmt.Errorf("mount the devices cgroup: %w", err)
	}
	return nil
}

// deviceRules returns the rules of the container's devices group, nil when the spec has none.
// As runc, after the spec's rules come those every container keeps: mknod of any node, the
// default devices, the ptys and tun, and the spec's own devices.
func deviceRules(spec *specs.Spec) []specs.LinuxDeviceCgroup {
	if spec.Linux == nil || spec.Linux.Resources == nil || len(spec.Linux.Resources.Devices) == 0 {
		return nil
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), spec.Linux.Resources.Devices...)
	rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"},
		specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"})
	allow := func(typ string, major, minor int64) {
		var pminor *int64
		if minor >= 0 {
			pminor = &minor
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: pminor, Access: "rwm"})
	}
	for _, d := range defaultDevices {
		allow(d.Type, d.Major, d.Minor)
	}
	allow("c", 136, -1) // /dev/pts/*
	allow("c", 5, 2)    // /dev/ptmx
	allow("c", 10, 200) // /dev/net/tun
	for _, d := range spec.Linux.Devices {
		if d.Type == "c" || d.Type == "b" || d.Type == "u" {
			allow(strings.Replace(d.Type, "u", "c", 1), d.Major, d.Minor) // a fifo has no rule
		}
	}
	return rules
}

// makeDevicesCgroup makes the container's devices group with the spec's rules, in their
// order as runc writes them to a v1 group; the agent moves the container's processes in. A
// spec without rules leaves the container with every device of the guest, as runc does.
func makeDevicesCgroup(spec *specs.Spec) error {
	rules := deviceRules(spec)
	if len(rules) == 0 {
		return nil
	}
	if err := mountDevices(); err != nil {
		return err
	}
	if err := os.Mkdir(containerDevices, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := writeCgroup(containerDevices, file, deviceRule(r)); err != nil {
			return fmt.Errorf("device rule: %w", err)
		}
	}
	return nil
}

// deviceRule formats r as devices.allow and devices.deny take it: "c 1:3 rwm", "a *:* rwm".
func deviceRule(r specs.LinuxDeviceCgroup) string {
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	typ, access := r.Type, r.Access
	if typ == "" {
		typ = "a"
	}
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), access)
}
