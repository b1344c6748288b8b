package guest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// Stats reads the whole guest's resource use from its host groups, in the shape of runc's
// events: CPU time of all its host processes, host memory charged to it (the guest's RAM
// file and the UML processes' own), and its host tasks. The limits are the host groups'.
func (c *Cgroups) Stats() (*runc.Stats, error) {
	s := &runc.Stats{}
	if c.Pure {
		m, err := cgroup2.Load(c.Path, cgroup2.WithMountpoint(c.V2))
		if err != nil {
			return nil, err
		}
		v, err := m.Stat()
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", c.Path, err)
		}
		if cpu := v.CPU; cpu != nil {
			s.Cpu.Usage = runc.CpuUsage{Total: cpu.UsageUsec * 1000, Kernel: cpu.SystemUsec * 1000, User: cpu.UserUsec * 1000}
			s.Cpu.Throttling = runc.Throttling{Periods: cpu.NrPeriods, ThrottledPeriods: cpu.NrThrottled, ThrottledTime: cpu.ThrottledUsec * 1000}
		}
		if mem := v.Memory; mem != nil {
			s.Memory.Cache = mem.File
			s.Memory.Usage = runc.MemoryEntry{Usage: mem.Usage, Limit: mem.UsageLimit, Max: mem.MaxUsage}
			s.Memory.Swap = runc.MemoryEntry{Usage: mem.SwapUsage, Limit: mem.SwapLimit, Max: mem.SwapMaxUsage}
		}
		if ev := v.MemoryEvents; ev != nil {
			s.Memory.Usage.Failcnt = ev.Max
		}
		if p := v.Pids; p != nil {
			s.Pids = runc.Pids{Current: p.Current, Limit: p.Limit}
		}
		s.Memory.Raw = readKV(filepath.Join(c.V2, c.Path, "memory.stat"))
		return s, nil
	}
	if len(c.V1) == 0 {
		return nil, fmt.Errorf("cgroup %s: no accounting on this host", c.Path)
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(c.Path), cgroup1.WithHierarchy(c.v1Hierarchy))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.Path, err)
	}
	v, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", c.Path, err)
	}
	if cpu := v.CPU; cpu != nil {
		if u := cpu.Usage; u != nil {
			s.Cpu.Usage = runc.CpuUsage{Total: u.Total, Percpu: u.PerCPU, Kernel: u.Kernel, User: u.User}
		}
		if t := cpu.Throttling; t != nil {
			s.Cpu.Throttling = runc.Throttling{Periods: t.Periods, ThrottledPeriods: t.ThrottledPeriods, ThrottledTime: t.ThrottledTime}
		}
	}
	if mem := v.Memory; mem != nil {
		s.Memory.Cache = mem.Cache
		entry := func(e interface {
			GetUsage() uint64
			GetLimit() uint64
			GetMax() uint64
			GetFailcnt() uint64
		}) runc.MemoryEntry {
			return runc.MemoryEntry{Usage: e.GetUsage(), Limit: e.GetLimit(), Max: e.GetMax(), Failcnt: e.GetFailcnt()}
		}
		if mem.Usage != nil {
			s.Memory.Usage = entry(mem.Usage)
		}
		if mem.Swap != nil {
			s.Memory.Swap = entry(mem.Swap)
		}
		if mem.Kernel != nil {
			s.Memory.Kernel = entry(mem.Kernel)
		}
		if mem.KernelTCP != nil {
			s.Memory.KernelTCP = entry(mem.KernelTCP)
		}
		s.Memory.Raw = readKV(filepath.Join(cgroupMount, "memory", c.Path, "memory.stat"))
	}
	if p := v.Pids; p != nil {
		s.Pids = runc.Pids{Current: p.Current, Limit: p.Limit}
	}
	return s, nil
}

// readKV reads a "key value" file such as memory.stat; nil if it cannot.
func readKV(path string) map[string]uint64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if n, err := strconv.ParseUint(v, 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

// OOMs returns a channel that receives a value each time the host's OOM killer acts in the
// guest's memory group, and is closed once the group is gone (or cannot be watched).
func (c *Cgroups) OOMs() <-chan struct{} {
	ch := make(chan struct{}, 1)
	switch {
	case c.Pure:
		m, err := cgroup2.Load(c.Path, cgroup2.WithMountpoint(c.V2))
		if err != nil {
			close(ch)
			return ch
		}
		events, errs := m.EventChan()
		go func() {
			defer close(ch)
			var kills uint64
			for {
				select {
				case ev := <-events:
					if ev.OOMKill > kills {
						kills = ev.OOMKill
						ch <- struct{}{}
					}
				case <-errs:
					return
				}
			}
		}()
	case slices.Contains(c.V1, cgroup1.Memory):
		cg, err := cgroup1.Load(cgroup1.StaticPath(c.Path), cgroup1.WithHierarchy(c.v1Hierarchy))
		var fd uintptr
		if err == nil {
			fd, err = cg.OOMEventFD()
		}
		if err != nil {
			close(ch)
			return ch
		}
		dir := filepath.Join(cgroupMount, "memory", c.Path)
		go func() {
			defer close(ch)
			defer unix.Close(int(fd))
			buf := make([]byte, 8)
			for {
				n, err := unix.Read(int(fd), buf)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n != 8 {
					return
				}
				// The eventfd also fires when the group is removed: it counts one more then.
				_, statErr := os.Stat(dir)
				gone := statErr != nil
				if !gone || binary.LittleEndian.Uint64(buf) > 1 {
					ch <- struct{}{}
				}
				if gone {
					return
				}
			}
		}()
	default:
		close(ch)
	}
	return ch
}
