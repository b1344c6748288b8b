package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/hostfs"
	"github.com/runuml/runuml/oci"
)

// mountRootImage mounts the guest's block device on the rootfs path when the container's
// rootfs is an image (hostfs.Rootfs.OnDevice); the container's setup is then the same as on
// hostfs. noinit_itable: an image's inode tables need no zeroing for a guest that lives as
// long as its container, and zeroing them would fill the sparse image with zeros.
func mountRootImage(spec *specs.Spec) error {
	root, err := hostfs.ParseRootfs(spec.Annotations)
	if err != nil || !root.OnDevice() {
		return err
	}
	if err := unix.Mount(hostfs.RootDevice, spec.Root.Path, "ext4", 0, "noinit_itable"); err != nil {
		return fmt.Errorf("mount the rootfs image %s on %s: %w", hostfs.RootDevice, spec.Root.Path, err)
	}
	return nil
}

// setupRootfs builds the container's mount tree in its new mount namespace and pivots into
// it. Bind sources were carried into the guest by the host (hostfs.Plan) and already name
// guest paths.
func setupRootfs(spec *specs.Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	rootfs := spec.Root.Path
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs: %w", err)
	}
	devMounted := false
	for _, m := range spec.Mounts {
		if err := mountOne(rootfs, m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, m.Destination, err)
		}
		devMounted = devMounted || filepath.Clean(m.Destination) == "/dev"
	}
	if devMounted {
		if err := makeDevices(rootfs, spec); err != nil {
			return err
		}
	}
	if err := hostfs.Pivot(rootfs); err != nil {
		return err
	}
	if err := securePaths(spec); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	return nil
}

// mountOne mounts m under rootfs, resolving its destination inside rootfs (a symlink in the
// image cannot point a mount outside it).
func mountOne(rootfs string, m specs.Mount) error {
	dest, err := securejoin.SecureJoin(rootfs, m.Destination)
	if err != nil {
		return err
	}
	flags, propagation, data := oci.ParseMountOptions(m.Options)
	if oci.IsBind(m) {
		if err := hostfs.MakeMountPoint(dest, m.Source); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		// Bind mounts take their other flags (ro, nosuid, ...) only on a remount.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", dest, "", flags|unix.MS_REMOUNT, ""); err != nil {
				return err
			}
		}
	} else {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		typ, source := m.Type, m.Source
		if typ == "cgroup" || typ == "cgroup2" {
			// The guest has its own cgroup hierarchy; cgroup2 is what it offers.
			typ, source, data = "cgroup2", "cgroup2", ""
		}
		err := unix.Mount(source, dest, typ, flags, data)
		if (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) && (typ == "sysfs" || typ == "cgroup2") {
			// In a user namespace that does not own the guest's network namespace (or, for
			// cgroup2, its cgroup namespace: EPERM, or EBUSY with one) the kernel refuses
			// these: bind the guest's own instead, as runc does.
			err = bindInstead(map[string]string{"sysfs": "/sys", "cgroup2": containerCgroupDir()}[typ], dest, flags)
		}
		if err != nil {
			return err
		}
	}
	for _, p := range propagation {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// bindInstead binds src (recursively) on dest and remounts it with flags' read-only, nosuid,
// nodev and noexec, keeping those the source has (a user namespace may not clear them).
func bindInstead(src, dest string, flags uintptr) error {
	if err := unix.Mount(src, dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dest, &st); err != nil {
		return err
	}
	const lockable = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	keep := (flags | uintptr(st.Flags)) & lockable
	return unix.Mount("", dest, "", keep|unix.MS_BIND|unix.MS_REMOUNT, "")
}

// containerCgroupDir is the container's cgroup for a bind in place of a cgroup2 mount: its
// own group, else the guest's whole hierarchy.
func containerCgroupDir() string {
	if _, err := os.Stat(containerCgroup); err == nil {
		return containerCgroup
	}
	return cgroupRoot
}

// The devices every container gets, as runc makes them.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// makeDevices fills a fresh /dev with the default devices, the spec's devices and the usual
// symlinks. In a user namespace, where mknod of a device is refused, each device is a bind
// of the guest's own node at the same path (as runc binds the host's).
func makeDevices(rootfs string, spec *specs.Spec) error {
	userns := userNamespace(spec)
	devices := defaultDevices
	if spec.Linux != nil {
		devices = append(devices[:len(devices):len(devices)], spec.Linux.Devices...)
	}
	for _, d := range devices {
		path, err := securejoin.SecureJoin(rootfs, d.Path)
		if err != nil {
			return err
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode & 0o7777)
		}
		typ := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}[d.Type]
		if typ == 0 {
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.Remove(path)
		if userns && typ != unix.S_IFIFO {
			if err := bindDevice(d, typ, path); err != nil {
				return err
			}
			continue
		}
		if err := unix.Mknod(path, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
		unix.Chmod(path, mode) // mknod applies the umask
		if d.UID != nil || d.GID != nil {
			uid, gid := -1, -1
			if d.UID != nil {
				uid = int(*d.UID)
			}
			if d.GID != nil {
				gid = int(*d.GID)
			}
			if err := unix.Chown(path, uid, gid); err != nil {
				return fmt.Errorf("chown %s: %w", d.Path, err)
			}
		}
	}
	links := [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}}
	for _, l := range links {
		os.Symlink(l[0], filepath.Join(rootfs, "dev", l[1]))
	}
	return nil
}

// bindDevice binds the guest's node d.Path onto path, an empty file it makes; the node must be
// the device d names.
func bindDevice(d specs.LinuxDevice, typ uint32, path string) error {
	var st unix.Stat_t
	if err := unix.Stat(d.Path, &st); err != nil {
		return fmt.Errorf("device %s: in a user namespace devices are bound from the guest's: %w", d.Path, err)
	}
	if st.Mode&unix.S_IFMT != typ || unix.Major(st.Rdev) != uint32(d.Major) || unix.Minor(st.Rdev) != uint32(d.Minor) {
		return fmt.Errorf("device %s: in a user namespace devices are bound from the guest's, and the guest's %s is not device %d:%d",
			d.Path, d.Path, d.Major, d.Minor)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	f.Close()
	if err := unix.Mount(d.Path, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("device %s: bind: %w", d.Path, err)
	}
	return nil
}
