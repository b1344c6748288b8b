package agent

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// securePaths applies the spec's sysctls, readonlyPaths and maskedPaths in that order, as
// runc does, once the container's mounts are in place and this process is in its root (the
// sysctls go first: /proc/sys is usually among the read-only paths).
func securePaths(spec *specs.Spec) error {
	if spec.Linux == nil {
		return nil
	}
	if err := writeSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPath bind-mounts path onto itself read-only, keeping its nosuid, nodev and noexec;
// a path that does not exist is skipped.
func readonlyPath(path string) error {
	if err := bindInstead(path, path, unix.MS_RDONLY); !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// maskPath hides path: a file under /dev/null, a directory under an empty read-only tmpfs.
// A path that does not exist is skipped.
func maskPath(path string) error {
	err := unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
	switch {
	case errors.Is(err, unix.ENOTDIR):
		return unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "")
	case errors.Is(err, unix.ENOENT):
		return nil
	}
	return err
}

// writeSysctls writes each sysctl through this process's /proc/sys. In the guest every
// sysctl is the container's own (its kernel is the guest's), so none is refused for not
// being namespaced, as runc refuses some.
func writeSysctls(sysctl map[string]string) error {
	for key, value := range sysctl {
		// A key with a slash is already a path, which lets a dot stand in a name
		// (net/ipv4/conf/eth0.100/forwarding), as runc allows.
		path := key
		if !strings.Contains(key, "/") {
			path = strings.ReplaceAll(key, ".", "/")
		}
		if strings.Contains(path, "..") {
			return fmt.Errorf("sysctl %q: invalid name", key)
		}
		if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}
