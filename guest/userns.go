package guest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/oci"
)

// userns puts the jail in a user namespace of its own, every id the monitor has mapped to
// itself: files keep their owners (docker's root-owned rootfs included) and hostfs works as
// before, but the kernel's capabilities count only in that namespace, so nothing checked
// against the monitor's user namespace (the host's, or a rootless container's own, see
// container.startInNetns) is granted: no CAP_DAC_READ_SEARCH for file handles, no capability
// over the container's network namespace, which the monitor's user namespace owns. So the raw
// sockets of its network devices are opened by the monitor (a kernel without patch 0010,
// which must open them itself, gets no user namespace when it has network devices).
//
// As host root the monitor maps every id (0 0 4294967295); rootless, only those its own user
// namespace maps (the caller's uid as 0), and setgroups stays denied if it is denied there.
func userns(a *syscall.SysProcAttr) error {
	uids, err := readIDMap("/proc/self/uid_map")
	if err != nil {
		return err
	}
	gids, err := readIDMap("/proc/self/gid_map")
	if err != nil {
		return err
	}
	setgroups, err := os.ReadFile("/proc/self/setgroups")
	if err != nil {
		return err
	}
	a.Cloneflags |= unix.CLONE_NEWUSER
	a.UidMappings, a.GidMappings = identity(uids), identity(gids)
	a.GidMappingsEnableSetgroups = strings.TrimSpace(string(setgroups)) == "allow"
	return nil
}

// identity maps each id of m, a user namespace's map, to itself.
func identity(m []syscall.SysProcIDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, r := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: r.ContainerID, HostID: r.ContainerID, Size: r.Size}
	}
	return out
}

// readIDMap parses a uid_map or gid_map: lines of "inside outside count".
func readIDMap(path string) ([]syscall.SysProcIDMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseIDMap(data)
}

func parseIDMap(data []byte) ([]syscall.SysProcIDMap, error) {
	var out []syscall.SysProcIDMap
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q: want 3 fields", sc.Text())
		}
		var n [3]int
		for i := range n {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %w", sc.Text(), err)
			}
			n[i] = int(v)
		}
		out = append(out, syscall.SysProcIDMap{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}

// InUserNamespace reports whether this process runs in a user namespace other than the
// host's: one whose uid map is not the whole identity map of the initial namespace.
func InUserNamespace() bool {
	m, err := readIDMap("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return !(len(m) == 1 && m[0].ContainerID == 0 && m[0].HostID == 0 && m[0].Size == 1<<32-1)
}

// guestMappings rewrites the host ids of the spec's uidMappings and gidMappings as the
// monitor's user namespace sees them. It is for a rootless monitor in a user namespace runuml
// made for it: a spec's host ids are the host's (runc rootless maps the caller's own uid), but
// there the caller's uid is 0, and the guest's ids are the monitor's. An id that namespace
// does not map (a subordinate id: runuml uses none) is refused.
func guestMappings(spec *specs.Spec) error {
	if spec.Linux == nil || len(spec.Linux.UIDMappings)+len(spec.Linux.GIDMappings) == 0 {
		return nil
	}
	for _, m := range []struct {
		file string
		ids  *[]specs.LinuxIDMapping
	}{{"/proc/self/uid_map", &spec.Linux.UIDMappings}, {"/proc/self/gid_map", &spec.Linux.GIDMappings}} {
		own, err := readIDMap(m.file)
		if err != nil {
			return err
		}
		if *m.ids, err = toInside(*m.ids, own); err != nil {
			return fmt.Errorf("%w: rootless: %v", oci.ErrBadConfig, err)
		}
	}
	return nil
}

// toInside returns ms with each host range replaced by the ids own (a user namespace's map)
// maps it to; a range own does not map whole is an error.
func toInside(ms []specs.LinuxIDMapping, own []syscall.SysProcIDMap) ([]specs.LinuxIDMapping, error) {
	out := make([]specs.LinuxIDMapping, len(ms))
	for i, m := range ms {
		found := false
		for _, r := range own {
			if int64(m.HostID) >= int64(r.HostID) && int64(m.HostID)+int64(m.Size) <= int64(r.HostID)+int64(r.Size) {
				out[i] = specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: uint32(r.ContainerID + int(m.HostID) - r.HostID), Size: m.Size}
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("mapping of host ids %d-%d: only the caller's own id is mapped (no subordinate ids)", m.HostID, int64(m.HostID)+int64(m.Size)-1)
		}
	}
	return out, nil
}
