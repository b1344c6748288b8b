package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// memoryCgroupFile reads a file (its v1 or v2 name) of container id's host memory group: the
// group at the cgroupsPath docker gave in the spec, where runuml keeps the guest's processes.
func (d dockerT) memoryCgroupFile(id string, v1, v2 string) string {
	return d.cgroupFile(id, "memory", v1, v2)
}

// cgroupFile reads a file of container id's host group of a v1 controller (or its v2 name).
func (d dockerT) cgroupFile(id, controller, v1, v2 string) string {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.Dir, "ctd/io.containerd.runtime.v2.task/moby", id, "config.json"))
	if err != nil {
		d.t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		d.t.Fatalf("spec of %s: %v, no cgroupsPath", id, err)
	}
	path := filepath.Join("/sys/fs/cgroup", controller, spec.Linux.CgroupsPath, v1)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		path = filepath.Join("/sys/fs/cgroup", spec.Linux.CgroupsPath, v2)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestDockerUpdateMemory: `docker update --memory` raises the host limit of the guest's
// group (the new limit plus runuml's 64 MiB headroom) and refuses one below the guest's RAM
// with runuml's reason; CPU settings docker sends as 0 (unchanged) are left alone.
func TestDockerUpdateMemory(t *testing.T) {
	d := newDocker(t)
	id := d.detach("--memory", "128m", testImage, "sleep", "1000")
	limit := func() string { return d.memoryCgroupFile(id, "memory.limit_in_bytes", "memory.max") }
	if got := limit(); got != strconv.Itoa((128+64)<<20) {
		t.Errorf("host limit at --memory 128m: %s, want 128+64 MiB", got)
	}
	d.ok("update", "--memory", "256m", "--memory-swap", "512m", id)
	if got := limit(); got != strconv.Itoa((256+64)<<20) {
		t.Errorf("host limit after update --memory 256m: %s, want 256+64 MiB", got)
	}
	_, stderr, status := d.status(nil, "update", "--memory", "64m", "--memory-swap", "128m", id)
	if status == 0 || !strings.Contains(stderr, "is below the 128 MiB of RAM the guest booted with: a running guest cannot shrink") {
		t.Errorf("update --memory 64m: status %d, stderr %q; want runuml's refusal", status, stderr)
	}
	if got := limit(); got != strconv.Itoa((256+64)<<20) {
		t.Errorf("host limit after a refused update: %s", got)
	}
	if got := d.ok("exec", id, "echo", "alive"); got != "alive\n" {
		t.Errorf("exec after the updates: %q", got)
	}
}

// TestDockerStats: `docker stats` shows the guest's memory use and its host limit. The shim
// reads them from the cgroup of the container's pid, runuml's monitor.
func TestDockerStats(t *testing.T) {
	d := newDocker(t)
	id := d.detach("--memory", "128m", testImage, "sleep", "1000")
	out := strings.TrimSpace(d.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", id))
	usage, limit, _ := strings.Cut(out, " / ")
	if n, _ := strconv.ParseFloat(strings.TrimRight(usage, "BKMGiB"), 64); n <= 0 {
		t.Errorf("docker stats: memory usage %q, want more than 0", out)
	}
	if limit != "192MiB" {
		pid := d.inspect(id, "{{.State.Pid}}")
		cg, _ := os.ReadFile("/proc/" + pid + "/cgroup")
		t.Errorf("docker stats: limit %q, want the guest group's 128+64 MiB; the container's pid %s (the monitor) is in:\n%s", limit, pid, cg)
	}
}

// TestDockerCPUsPids: --cpus and --pids-limit reach the guest's host groups (cpu quota as
// docker asks; pids.max with runuml's headroom for the kernel's own host tasks).
func TestDockerCPUsPids(t *testing.T) {
	d := newDocker(t)
	id := d.detach("--cpus", "0.5", "--pids-limit", "50", testImage, "sleep", "1000")
	if got := d.cgroupFile(id, "cpu", "cpu.cfs_quota_us", "cpu.max"); got != "50000" && !strings.HasPrefix(got, "50000 ") {
		t.Errorf("--cpus 0.5: host cpu quota %q, want 50000", got)
	}
	if got := d.cgroupFile(id, "pids", "pids.max", "pids.max"); got != "66" {
		t.Errorf("--pids-limit 50: host pids.max %q, want 50 + 16", got)
	}
}
