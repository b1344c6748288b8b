package guest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/oci"
)

// Annotations for runuml's own settings, read from the bundle's config.json.
const (
	// AnnotationKernel names the guest kernel binary for this container.
	AnnotationKernel = "org.runuml.kernel"
	// AnnotationMemory sets the guest's RAM, e.g. "256M" or "1G".
	AnnotationMemory = "org.runuml.memory"
	// AnnotationCPUs sets the guest's CPUs (default 1): with more than one, the guest kernel
	// runs that many CPUs and may use every host CPU the container's cpuset allows, instead of
	// being pinned to one.
	AnnotationCPUs = "org.runuml.cpus"
)

// guestCPUs returns the number of guest CPUs for spec: the annotation, else 1.
func guestCPUs(spec *specs.Spec) (int, error) {
	s := spec.Annotations[AnnotationCPUs]
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > runtime.NumCPU() {
		return 0, fmt.Errorf("%w: annotation %s=%q: want a number of CPUs from 1 to %d", oci.ErrBadConfig, AnnotationCPUs, s, runtime.NumCPU())
	}
	return n, nil
}

// DefaultMemoryMiB is the guest RAM when neither the spec's memory limit nor the annotation
// sets it. Touched guest pages stay with the host process until the guest exits, so it is
// kept modest; boot time also grows with it.
const DefaultMemoryMiB = 256

const minMemoryMiB = 32

// MemoryMiB returns the guest RAM for spec: the annotation, else the memory limit, else the
// default.
func MemoryMiB(spec *specs.Spec) (int, error) {
	mem := DefaultMemoryMiB
	if s := spec.Annotations[AnnotationMemory]; s != "" {
		n, err := parseSize(s)
		if err != nil {
			return 0, fmt.Errorf("%w: annotation %s=%q: %v", oci.ErrBadConfig, AnnotationMemory, s, err)
		}
		mem = int(n >> 20)
	} else if r := spec.Linux; r != nil && r.Resources != nil && r.Resources.Memory != nil &&
		r.Resources.Memory.Limit != nil && *r.Resources.Memory.Limit > 0 {
		mem = int(*r.Resources.Memory.Limit >> 20)
	}
	if mem < minMemoryMiB {
		return 0, fmt.Errorf("%w: guest memory %d MiB is below the minimum of %d MiB", oci.ErrBadConfig, mem, minMemoryMiB)
	}
	return mem, nil
}

// parseSize reads "512", "64k", "256M", "1G" (powers of 1024) as bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}

// claimCPU picks the CPU for st's guest and records it at once, under a lock on the store,
// so guests created at the same time spread out too. It returns the host CPUs the guest may
// run on: that one, or with n guest CPUs every CPU allowed.
func claimCPU(store oci.Store, st *oci.State, spec *specs.Spec, n int) ([]int, error) {
	lock, err := os.Open(store.Root) // the store directory itself is the lock
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	var allowed []int
	if st.CPU, allowed, err = pickCPU(store, spec); err != nil {
		return nil, err
	}
	if n == 1 {
		allowed = []int{st.CPU}
	}
	return allowed, store.Save(st)
}

// pickCPU chooses the host CPU for a new guest: among those allowed (the spec's cpuset and
// this process's affinity), the one with the fewest live guests, so guests spread out. A guest
// runs several times faster pinned than left to migrate. It returns the allowed CPUs too.
func pickCPU(store oci.Store, spec *specs.Spec) (int, []int, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return 0, nil, err
	}
	if r := spec.Linux; r != nil && r.Resources != nil && r.Resources.CPU != nil && r.Resources.CPU.Cpus != "" {
		set, err := parseCPUList(r.Resources.CPU.Cpus)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: linux.resources.cpu.cpus %q: %v", oci.ErrBadConfig, r.Resources.CPU.Cpus, err)
		}
		for i := 0; i < len(allowed)*64; i++ {
			if !set[i] {
				allowed.Clear(i)
			}
		}
	}
	load := map[int]int{}
	states, _ := store.List()
	for _, st := range states {
		if st.CPU >= 0 && st.Alive() { // CPU is -1 until a guest has picked one
			load[st.CPU]++
		}
	}
	best := -1
	var cpus []int
	for i := 0; i < len(allowed)*64; i++ {
		if !allowed.IsSet(i) {
			continue
		}
		cpus = append(cpus, i)
		if best < 0 || load[i] < load[best] {
			best = i
		}
	}
	if best < 0 {
		return 0, nil, fmt.Errorf("%w: no usable CPU in the container's cpuset", oci.ErrBadConfig)
	}
	return best, cpus, nil
}

// maxCPUs bounds the CPU numbers of a cpuset list: those of unix.CPUSet, the most pickCPU
// looks at. Without a bound, "0-2000000000" made the monitor loop and fill memory.
const maxCPUs = len(unix.CPUSet{}) * 64

// parseCPUList reads a cpuset list such as "0-2,5".
func parseCPUList(s string) (map[int]bool, error) {
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad range %q", part)
			}
		}
		if a < 0 || b >= maxCPUs {
			return nil, fmt.Errorf("cpu numbers in %q are out of range (0-%d)", part, maxCPUs-1)
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}
