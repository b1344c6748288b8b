package hostfs

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Jail describes the jail of one guest. The monitor writes it; the jail process (a re-exec of
// runuml in fresh mount, pid, ipc and uts namespaces) builds it and execs the kernel as the
// init of its pid namespace, so killing the kernel kills every helper process it forked.
type Jail struct {
	Dir       string   `json:"dir"` // empty host directory the jail's tmpfs is mounted on
	Binds     []Bind   `json:"binds"`
	MemoryMiB int      `json:"memoryMiB"` // size of the memory tmpfs, guest RAM plus slack
	CPUs      []int    `json:"cpus"`      // host CPUs the kernel's processes are pinned to
	Args      []string `json:"args"`      // kernel command line
	Cgroups   []string `json:"cgroups"`   // cgroup directories the kernel's processes join
	Ptrace    bool     `json:"ptrace"`    // the kernel runs guest processes by tracing them
}

// KernelBinds returns the binds for the kernel binary at kernel, the agent at init and the
// shared libraries the kernel loads, found from its ELF headers.
func KernelBinds(kernel, init string) ([]Bind, error) {
	binds := []Bind{
		{Source: kernel, Target: KernelPath, ReadOnly: true},
		{Source: init, Target: InitPath, ReadOnly: true},
		// UML opens these on the host: /dev/null for the console's "null" input, and
		// /dev/random to feed the guest's hardware RNG. Read-only binds, or guest root could
		// chmod or chown the host's device nodes through hostfs (a read-only mount still lets
		// a device be opened for writing).
		{Source: "/dev/null", Target: "/dev/null", ReadOnly: true, Device: true},
		{Source: "/dev/urandom", Target: "/dev/random", ReadOnly: true, Device: true},
	}
	f, err := elf.Open(kernel)
	if err != nil {
		return nil, fmt.Errorf("guest kernel %s: %w", kernel, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				return nil, err
			}
			interp := string(data[:len(data)-1]) // NUL-terminated
			binds = append(binds, Bind{Source: interp, Target: interp, ReadOnly: true})
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	// glibc loads libgcc_s when a thread is cancelled at shutdown; without it UML aborts
	// after powering off.
	if p, err := findLibrary("libgcc_s.so.1"); err == nil {
		libs = append(libs, filepath.Base(p))
	}
	for _, lib := range libs {
		p, err := findLibrary(lib)
		if err != nil {
			return nil, fmt.Errorf("guest kernel %s: %w", kernel, err)
		}
		binds = append(binds, Bind{Source: p, Target: p, ReadOnly: true})
	}
	return binds, nil
}

var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

func findLibrary(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("shared library %s not found", name)
}

// Enter builds the jail and pivots into it. It must run in a process of its own in new mount
// and pid namespaces, on a locked OS thread; afterwards only the jail is visible.
func (j *Jail) Enter() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := j.Dir
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("mount jail tmpfs: %w", err)
	}
	// Mount points for the guest's own /proc, /sys and /dev, and for a rootfs image.
	for _, d := range []string{"proc", "sys", "dev", "tmp", VolumesDir, RootfsDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, b := range j.Binds {
		if err := bind(root, b); err != nil {
			return err
		}
	}
	mem := fmt.Sprintf("size=%dm,mode=1777", j.MemoryMiB)
	if err := unix.Mount("tmpfs", filepath.Join(root, MemoryDir), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, mem); err != nil {
		return fmt.Errorf("mount memory tmpfs: %w", err)
	}
	// The jail root itself is read-only to the guest; its binds keep their own modes.
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make jail read-only: %w", err)
	}
	return Pivot(root)
}

// Pivot makes dir, a mount point, the root of this mount namespace and drops the old root.
func Pivot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root under the new one; unmounting "." then drops it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", dir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("drop old root: %w", err)
	}
	return unix.Chdir("/")
}

// MakeMountPoint creates target for a bind mount of source: a directory, or an empty file.
func MakeMountPoint(target, source string) error {
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind mount source: %w", err)
	}
	if fi.IsDir() {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err == nil {
		f.Close()
	}
	return err
}

// Exec enters the jail and replaces this process with the kernel, pinned to j.CPUs, with no
// core dumps (UML aborts when its init dies and would leave a core in its cwd). The caller
// must have locked its OS thread: affinity is per thread and carries over execve.
func (j *Jail) Exec() error {
	// Joined before the kernel starts, so every process it forks is in the groups too.
	for _, dir := range j.Cgroups {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", dir, err)
		}
	}
	if err := j.Enter(); err != nil {
		return err
	}
	if err := limitKernel(j.Ptrace); err != nil {
		return err
	}
	// UML disables address randomisation and re-execs itself through /proc/self/exe unless
	// it is off already; the jail has no /proc, and the re-exec would only cost time.
	const addrNoRandomize = 0x0040000
	if _, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, addrNoRandomize, 0, 0); errno != 0 {
		return fmt.Errorf("personality: %w", errno)
	}
	var set unix.CPUSet
	for _, c := range j.CPUs {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpus %v: %w", j.CPUs, err)
	}
	argv := append([]string{"linux"}, j.Args...)
	err := unix.Exec(KernelPath, argv, []string{"TMPDIR=" + MemoryDir, "PATH=/nonexistent"})
	return fmt.Errorf("exec guest kernel: %w", err)
}

func bind(root string, b Bind) error {
	target := filepath.Join(root, b.Target)
	if err := MakeMountPoint(target, b.Source); err != nil {
		return fmt.Errorf("stage %s: %w", b.Target, err)
	}
	// The guest opens host files through hostfs: device nodes in a rootfs or volume must not
	// reach host devices, nor set-id bits matter on the host.
	flags := uintptr(unix.MS_BIND | unix.MS_NODEV | unix.MS_NOSUID)
	if b.Device {
		flags &^= unix.MS_NODEV
	}
	if b.Recurse {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(b.Source, target, "", flags, ""); err != nil {
		return fmt.Errorf("bind %s to %s: %w", b.Source, b.Target, err)
	}
	// A bind takes its flags only from a remount (which leaves submounts of a recursive bind
	// as they are). In a user namespace the source's noexec and atime flags are locked: a
	// remount must keep them.
	if b.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", b.Target, err)
	}
	for _, f := range [][2]uintptr{{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME}} {
		if uintptr(st.Flags)&f[0] != 0 {
			flags |= f[1]
		}
	}
	if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
		return fmt.Errorf("remount %s: %w", b.Target, err)
	}
	return nil
}

// JailFile is the file in a container's state dir that describes its jail.
const JailFile = "jail.json"

// LoadJail reads the jail description from the state dir dir.
func LoadJail(dir string) (*Jail, error) {
	data, err := os.ReadFile(filepath.Join(dir, JailFile))
	if err != nil {
		return nil, err
	}
	var j Jail
	return &j, json.Unmarshal(data, &j)
}
