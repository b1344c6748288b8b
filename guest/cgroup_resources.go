package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/oci"
)

// MemoryHeadroomMiB is what the host group allows beyond the guest's RAM. The guest's RAM is
// a file on a tmpfs charged to the group (every page the guest ever touched stays charged
// until it exits), and the UML processes need host memory of their own on top: their
// private memory and kernel memory (page tables, slab). Measured here (host kernel 6.18,
// cgroup v1, seccomp mode), guests that filled their RAM (tmpfs data, page cache, 60 MiB
// allocations at once, 50 processes): a 128 MiB guest peaked at 125 MiB of usage, a 256 MiB
// guest held 245 MiB of RAM file plus 0.6 MiB of process memory and at most 9.6 MiB of
// kernel memory, about 13 MiB over the RAM file. Host page cache of files the guest writes
// through hostfs is charged too but reclaimable: 300 MB written took the group to its limit,
// the host reclaimed (failcnt rose) and the guest ran on. 64 MiB leaves about 5x the
// measured overhead; only past it does the host OOM killer act, and it ends the whole guest.
const MemoryHeadroomMiB = 64

// PidsHeadroom is what the host group allows beyond the spec's pids limit, for the kernel's
// own host tasks. A guest in seccomp mode has about 5 host tasks whatever the container runs
// (55 guest processes: still 5), so there the limit bounds only UML itself; with the ptrace
// mode of older kernels there is one host process per guest address space.
const PidsHeadroom = 16

// hostResources translates a container's resources into those of its guest's host groups,
// for a guest of guestMiB of RAM. The memory limit becomes the limit plus MemoryHeadroomMiB,
// and a limit below the guest's RAM is refused: a booted guest cannot shrink. At create the
// limit is never below the guest's RAM plus headroom, set or not. The pids limit gets
// PidsHeadroom; the CPU settings apply as they are. The device rules apply as they are, with
// hostDevices after them. The rest (block I/O, hugetlb, network, kernel memory) means
// nothing on the host side of a guest and is left out.
func hostResources(r *specs.LinuxResources, guestMiB int, create bool) (*specs.LinuxResources, error) {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	out := &specs.LinuxResources{}
	guest, head := int64(guestMiB)<<20, int64(MemoryHeadroomMiB)<<20
	if m := r.Memory; m != nil || create {
		if m == nil {
			m = &specs.LinuxMemory{}
		}
		mem := &specs.LinuxMemory{Swappiness: m.Swappiness}
		limit := guest // what the guest may use
		switch {
		case m.Limit != nil && *m.Limit < 0:
			mem.Limit = ptr(int64(-1))
		case m.Limit != nil && *m.Limit > 0:
			if *m.Limit < guest && !create {
				return nil, fmt.Errorf("memory limit %d bytes (%d MiB) is below the %d MiB of RAM the guest booted with: a running guest cannot shrink",
					*m.Limit, *m.Limit>>20, guestMiB)
			}
			limit = max(*m.Limit, guest)
			mem.Limit = ptr(limit + head)
		case create:
			mem.Limit = ptr(guest + head)
		}
		if s := m.Swap; s != nil && *s != 0 {
			switch {
			case *s < 0:
				mem.Swap = ptr(int64(-1))
			case m.Limit != nil && *m.Limit > 0 && *s < *m.Limit:
				return nil, fmt.Errorf("%w: memory+swap limit %d is below the memory limit %d", oci.ErrBadConfig, *s, *m.Limit)
			default:
				mem.Swap = ptr(max(*s, limit) + head)
			}
		}
		if v := m.Reservation; v != nil && *v != 0 {
			mem.Reservation = ptr(int64(-1))
			if *v > 0 {
				mem.Reservation = ptr(*v + head)
			}
		}
		out.Memory = mem
	}
	if c := r.CPU; c != nil {
		// A share, quota or period of 0 means "unchanged", as runc has it: dockerd sends every
		// field on `docker update` (--memory alone comes with all three at 0), and a 0 written
		// to the group would be refused (period) or clamp the shares to 2.
		out.CPU = &specs.LinuxCPU{Shares: nonZero(c.Shares), Quota: nonZero(c.Quota), Period: nonZero(c.Period),
			Cpus: c.Cpus, Mems: c.Mems}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit != 0 {
		limit := int64(-1)
		if *p.Limit > 0 {
			limit = *p.Limit + PidsHeadroom
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if len(r.Devices) > 0 {
		out.Devices = append(slices.Clone(r.Devices), hostDevices...)
	}
	return out, nil
}

// hostDevices are the host devices the UML kernel process and the monitor open themselves,
// allowed whatever the container's rules say. On the host the rules bind only those two
// processes: no host device node reaches the guest (its binds are nodev), so the container's
// devices are the guest kernel's, where the agent applies the same rules again.
var hostDevices = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}, // /dev/null: the kernel's "null" channel
	{Allow: true, Type: "c", Major: ptr(int64(5)), Minor: ptr(int64(2)), Access: "rwm"}, // /dev/ptmx: the monitor's host pty
	{Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rwm"},                     // /dev/pts/*
}

func ptr[T any](v T) *T { return &v }

// nonZero is p, or nil when it points at 0.
func nonZero[T int64 | uint64](p *T) *T {
	if p == nil || *p == 0 {
		return nil
	}
	return p
}

// Update applies r, the resources of a `runc update`, to the guest's host groups: what r
// sets changes, the rest stays. A memory limit below the guest's RAM is refused; a larger
// one raises the host's limit, but the guest keeps the RAM it booted with.
func (c *Cgroups) Update(r *specs.LinuxResources) error {
	res, err := hostResources(r, c.GuestMiB, false)
	if err != nil {
		return err
	}
	if len(c.V1) > 0 {
		cg, err := cgroup1.Load(cgroup1.StaticPath(c.Path), cgroup1.WithHierarchy(c.v1Hierarchy))
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Path, err)
		}
		if err := cg.Update(res); err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Path, err)
		}
		// cgroup1 leaves pids.max alone for "no limit".
		if res.Pids != nil && *res.Pids.Limit < 0 && slices.Contains(c.V1, cgroup1.Pids) {
			if err := os.WriteFile(filepath.Join(cgroupMount, "pids", c.Path, "pids.max"), []byte("max"), 0); err != nil {
				return err
			}
		}
	}
	if c.Pure {
		m, err := cgroup2.Load(c.Path, cgroup2.WithMountpoint(c.V2))
		if err == nil {
			err = m.Update(cgroup2.ToResources(res))
		}
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", c.Path, err)
		}
	}
	return nil
}
