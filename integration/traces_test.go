package integration

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// traces is what containers could leave on the host, by kind, each kind a set of names. Only
// what can be told to be this test's (or any UML guest's) is asserted on: other suites may run
// beside this one and start and stop containers of their own meanwhile.
type traces struct {
	kinds map[string][]string
	// Host-wide and so not compared (another suite's guests count too); shown in the log.
	umlProcs  int // host processes named linux or runuml
	shmemKB   int // Shmem in /proc/meminfo: guest memory files are shmem
	netnsLive int // named network namespaces (/run/netns)
}

// traceKinds are the kinds hostTraces looks for.
var traceKinds = []string{"process", "state dir", "cgroup", "mount", "namespace mount", "UML file", "tap or vector device"}

// hostTraces counts them now.
func (e *env) hostTraces() traces {
	tr := traces{kinds: map[string][]string{}}
	add := func(kind, name string) { tr.kinds[kind] = append(tr.kinds[kind], name) }
	for _, p := range e.processes() {
		add("process", fmt.Sprintf("%d %s", p.pid, p.cmdline))
	}
	entries, _ := os.ReadDir(e.root)
	for _, d := range entries {
		add("state dir", filepath.Join(e.root, d.Name()))
	}
	for _, dir := range e.cgroupDirs() {
		add("cgroup", dir)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.Contains(line, suiteDir):
			add("mount", line)
		case len(f) > 4 && strings.Contains(line, " - nsfs ") && !strings.HasPrefix(f[4], "/run/netns/") &&
			!strings.HasPrefix(f[4], "/run/docker/netns/"):
			// A namespace pinned by a bind mount outside the places `ip netns` and docker use.
			add("namespace mount", f[4])
		}
	}
	// UML's memory file (vm_file-XXXXXX, in $TMPDIR or /dev/shm; ours lives in the jail's
	// own tmpfs) and umid dirs (default ~/.uml; ours go to the jail's /tmp).
	for _, pattern := range []string{"/dev/shm/vm_file-*", "/tmp/vm_file-*", "/root/.uml/*"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			add("UML file", f)
		}
	}
	links, _ := os.ReadDir("/sys/class/net")
	for _, l := range links {
		if strings.HasPrefix(l.Name(), "tap") || strings.HasPrefix(l.Name(), "vec") {
			add("tap or vector device", l.Name())
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
		if c := strings.TrimSpace(string(comm)); err == nil && (c == "linux" || c == "runuml") {
			tr.umlProcs++
		}
	}
	meminfo, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(meminfo), "\n") {
		if v, ok := strings.CutPrefix(line, "Shmem:"); ok {
			fmt.Sscan(v, &tr.shmemKB)
		}
	}
	netns, _ := os.ReadDir("/run/netns")
	tr.netnsLive = len(netns)
	return tr
}

// diff lists what is in after and was not in t.
func (t traces) diff(after traces) []string {
	var out []string
	for _, kind := range slices.Sorted(maps.Keys(after.kinds)) {
		for _, name := range after.kinds[kind] {
			if !slices.Contains(t.kinds[kind], name) {
				out = append(out, kind+" "+name)
			}
		}
	}
	return out
}

// summary says how much of each kind there was, for the log.
func (t traces) summary() string {
	s := []string{}
	for _, kind := range traceKinds {
		s = append(s, fmt.Sprintf("%s: %d", kind, len(t.kinds[kind])))
	}
	return strings.Join(s, ", ") + fmt.Sprintf("; host-wide (not compared: other suites run too): %d processes named linux or runuml, "+
		"Shmem %d kB, %d named network namespaces", t.umlProcs, t.shmemKB, t.netnsLive)
}
