package integration

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/guest"
)

const mib = 1 << 20

// cgroupSuffix is how runuml names the groups of this test's containers: ID-HASH, the hash
// that of --root.
func (e *env) cgroupSuffix() string {
	h := fnv.New32a()
	h.Write([]byte(e.root))
	return fmt.Sprintf("-%08x", h.Sum32())
}

// cgroupDirs lists the host cgroup directories of this test's containers.
func (e *env) cgroupDirs() []string {
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/runuml/*", "/sys/fs/cgroup/runuml/*"} {
		dirs, _ := filepath.Glob(pattern + e.cgroupSuffix())
		out = append(out, dirs...)
	}
	return out
}

// cgroupValue reads a limit of container id's host group: v1 file name (memory.limit_in_bytes,
// pids.max), read from the v2 group on a v2 host. "max" reads as -1.
func (e *env) cgroupValue(id, v1Controller, v1File string) int64 {
	e.t.Helper()
	path := filepath.Join("/sys/fs/cgroup", v1Controller, "runuml", id+e.cgroupSuffix(), v1File)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2File := map[string]string{"memory.limit_in_bytes": "memory.max"}[v1File]
		if v2File == "" {
			v2File = v1File
		}
		path = filepath.Join("/sys/fs/cgroup/runuml", id+e.cgroupSuffix(), v2File)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatalf("host cgroup of %s: %v", id, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return -1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		e.t.Fatalf("%s: %q", path, s)
	}
	return n
}

// TestCgroupLimits checks that the spec's memory and pids limits reach the guest and its host
// groups: the guest sees the memory limit as its RAM, the host allows that plus headroom.
func TestCgroupLimits(t *testing.T) {
	e := newEnv(t)
	limit, pids := int64(128*mib), int64(40)
	c := e.create("lim", e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	}))
	e.start(c)
	out, _, status, err := e.execRun("lim", execProc("grep", "MemTotal", "/proc/meminfo"), nil)
	if err != nil || status != 0 {
		t.Fatalf("exec: %v, status %d", err, status)
	}
	// The guest kernel keeps a little of its RAM for itself: 128 MiB shows as about 115 MiB.
	var kb int64
	if _, err := fmt.Sscanf(out, "MemTotal: %d kB", &kb); err != nil || kb < 100*1024 || kb > 128*1024 {
		t.Errorf("guest MemTotal %q, want about 128 MiB", out)
	}
	if got, want := e.cgroupValue("lim", "memory", "memory.limit_in_bytes"), limit+guest.MemoryHeadroomMiB*mib; got != want {
		t.Errorf("host memory limit %d, want %d (128 MiB + %d MiB headroom)", got, want, guest.MemoryHeadroomMiB)
	}
	if got, want := e.cgroupValue("lim", "pids", "pids.max"), pids+guest.PidsHeadroom; got != want {
		t.Errorf("host pids.max %d, want %d", got, want)
	}
	// containerd's shim reads a container's stats from its pid's cgroups: the monitor's.
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err == nil {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.pid))
		if want := ":memory:/runuml/lim" + e.cgroupSuffix(); !strings.Contains(string(data), want) {
			t.Errorf("the container's pid is not in its memory group %s:\n%s", want, data)
		}
	}
	if err := e.rc.Delete(e.ctx, "lim", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatal(err)
	}
	if dirs := e.cgroupDirs(); len(dirs) > 0 {
		t.Errorf("cgroups left after delete: %v", dirs)
	}
}

// TestEventsAndUpdate checks events --stats (go-runc's Stats and the JSON a shell user
// sees) and update: a larger memory limit reaches the host group, one below the guest's RAM
// is refused, and both verbs refuse a stopped container.
func TestEventsAndUpdate(t *testing.T) {
	e := newEnv(t)
	c := e.create("ev", e.newBundle([]string{"sleep", "100"}))
	e.start(c)
	s, err := e.rc.Stats(e.ctx, "ev")
	if err != nil {
		t.Fatalf("stats: %v; log: %s", err, e.lastLogError())
	}
	if s.Memory.Usage.Usage == 0 || s.Pids.Current < 1 || s.Cpu.Usage.Total == 0 {
		t.Errorf("stats: memory usage %d, pids %d, cpu %d ns; want all non-zero", s.Memory.Usage.Usage, s.Pids.Current, s.Cpu.Usage.Total)
	}
	t.Logf("idle 256 MiB guest: host memory usage %.1f MiB (limit %.0f MiB), %d host tasks",
		float64(s.Memory.Usage.Usage)/mib, float64(s.Memory.Usage.Limit)/mib, s.Pids.Current)
	stdout, _, status := e.cli("events", "--stats", "ev")
	var ev runc.Event
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil || status != 0 || ev.Type != "stats" || ev.ID != "ev" || ev.Stats == nil {
		t.Errorf("events --stats: status %d, %q (%v)", status, stdout, err)
	}

	big := int64(512 * mib)
	if err := e.rc.Update(e.ctx, "ev", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &big}}); err != nil {
		t.Fatalf("update: %v; log: %s", err, e.lastLogError())
	}
	if got, want := e.cgroupValue("ev", "memory", "memory.limit_in_bytes"), big+guest.MemoryHeadroomMiB*mib; got != want {
		t.Errorf("host memory limit after update %d, want %d", got, want)
	}
	if s, err := e.rc.Stats(e.ctx, "ev"); err == nil && s.Memory.Usage.Limit != uint64(big+guest.MemoryHeadroomMiB*mib) {
		t.Errorf("stats limit after update %d", s.Memory.Usage.Limit)
	}
	small := int64(64 * mib)
	e.clearLog()
	e.wantErr("update below the guest's RAM", e.rc.Update(e.ctx, "ev", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &small}}),
		"is below the 256 MiB of RAM the guest booted with")
	e.cliFails("below the 256 MiB", "update", "--memory", "64m", "ev")
	if _, _, status := e.cli("update", "--pids-limit", "30", "--cpu-shares", "512", "ev"); status != 0 {
		t.Errorf("update --pids-limit: status %d", status)
	} else if got := e.cgroupValue("ev", "pids", "pids.max"); got != 30+guest.PidsHeadroom {
		t.Errorf("pids.max after update %d", got)
	}

	// The stream: a stats event every interval until the container stops, then EOF.
	events, err := e.rc.Events(e.ctx, "ev", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first := <-events; first == nil || first.Type != "stats" || first.Stats == nil || first.Stats.Memory.Usage.Usage == 0 {
		t.Errorf("first event of the stream: %+v", first)
	}
	if err := e.rc.Kill(e.ctx, "ev", 9, nil); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	ended := make(chan struct{})
	go func() {
		for range events {
		}
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(waitTimeout):
		t.Errorf("events went on after the container stopped")
	}
	e.waitStatus("ev", "stopped")
	e.clearLog()
	_, err = e.rc.Stats(e.ctx, "ev")
	e.wantErr("stats of a stopped container", err, "container not running")
	e.cliFails("container not running", "events", "--stats", "ev")
	e.cliFails("container not running", "update", "--memory", "1g", "ev")
	e.cliFails("container does not exist", "events", "--stats", "ghost")
	if err := e.rc.Delete(e.ctx, "ev", nil); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestSystemdCgroupsPath creates a container as containerd does with the systemd cgroup
// driver (--systemd-cgroup, cgroupsPath "slice:prefix:name"): its host groups are where
// systemd puts that scope, with the limits, and go with the container.
func TestSystemdCgroupsPath(t *testing.T) {
	e := newEnv(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err != nil {
		t.Skip("no cgroup v1 memory hierarchy on this host")
	}
	e.rc.SystemdCgroup = true
	id := "sd" + e.cgroupSuffix()[1:]
	limit := int64(128 << 20)
	bundle := e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "runuml_test-it.slice:cri-containerd:" + id
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	c := e.create(id, bundle)
	e.start(c)
	dir := "/sys/fs/cgroup/memory/runuml_test.slice/runuml_test-it.slice/cri-containerd-" + id + ".scope"
	data, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
	if want := fmt.Sprint(limit + guest.MemoryHeadroomMiB<<20); err != nil || strings.TrimSpace(string(data)) != want {
		t.Errorf("%s: memory.limit_in_bytes %q (%v), want %s", dir, data, err, want)
	}
	e.killAndDelete(c, 137)
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left after delete", dir)
	}
	// The slices are the caller's, as systemd's are: remove the test's own.
	for _, pattern := range []string{"/sys/fs/cgroup/*/runuml_test.slice/*.slice", "/sys/fs/cgroup/*/runuml_test.slice"} {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove the test's slice: %v", err)
			}
		}
	}
}
