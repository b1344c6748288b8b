// Package guest is the host side of a UML guest: finding the kernel, turning a container's
// settings into the kernel command line, and the monitor process that owns the guest.
package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Where runuml looks for a kernel when none is named: the one `make kernel` installs, then
// Debian's user-mode-linux package.
var (
	DefaultKernel  = "/usr/local/lib/runuml/kernel/linux"
	FallbackKernel = "/usr/bin/linux.uml"
)

// KernelEnv names the environment variable that overrides the kernel path.
const KernelEnv = "RUNUML_KERNEL"

// Kernel is a UML kernel binary and what it can do, read from the linux.json written beside
// it by `make kernel`. A kernel without one (Debian's package) is taken as ptrace-only.
type Kernel struct {
	Path    string `json:"-"`
	Version string `json:"version"`
	Seccomp bool   `json:"seccomp"` // has the seccomp userspace mode (seccomp=on)
	SMP     bool   `json:"smp"`
	RawFDs  bool   `json:"rawfds"` // its raw network devices can take sockets as fds (patch 0010)
}

// Mode names how guest processes are run: "seccomp" or "ptrace".
func (k Kernel) Mode() string {
	if k.Seccomp {
		return "seccomp"
	}
	return "ptrace"
}

// FindKernel returns the kernel at path, or if path is empty the one named by $RUNUML_KERNEL,
// else the installed one, else Debian's.
func FindKernel(path string) (Kernel, error) {
	candidates := []string{path}
	if path == "" {
		candidates = []string{os.Getenv(KernelEnv), DefaultKernel, FallbackKernel}
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			if path != "" || p == os.Getenv(KernelEnv) {
				return Kernel{}, fmt.Errorf("guest kernel %s: not an executable file", p)
			}
			continue
		}
		k := Kernel{Path: p}
		if data, err := os.ReadFile(p + ".json"); err == nil {
			if err := json.Unmarshal(data, &k); err != nil {
				return Kernel{}, fmt.Errorf("guest kernel %s.json: %w", p, err)
			}
		}
		return k, nil
	}
	return Kernel{}, errors.New("no guest kernel found: run `make kernel`, or install Debian's user-mode-linux, or set " + KernelEnv)
}

// HostVersion asks the kernel binary for its version (UML prints it for --version).
func (k Kernel) HostVersion() string {
	if k.Version != "" {
		return k.Version
	}
	out, err := exec.Command(k.Path, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// Boot is what the command line is made from.
type Boot struct {
	MemMiB int    // guest RAM
	CPUs   int    // guest CPUs (an SMP kernel); 0 or 1: one
	Init   string // guest path of the agent
	LineFD int    // host fd of the control line (socketpair end)
	LogFD  int    // host fd kernel messages go to
}

// Args returns the kernel command line for b. Every parameter is here for a measured reason;
// see ARCHITECTURE.md ("Boot time").
func (k Kernel) Args(b Boot) []string {
	args := []string{
		fmt.Sprintf("mem=%dM", b.MemMiB),
		// The root is hostfs of the UML process's own root, which is the jail.
		"root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
		"init=" + b.Init,
		// Only the channels in use: the console to the log, one serial line to the monitor.
		"con=none", "ssl=none",
		fmt.Sprintf("con0=null,fd:%d", b.LogFD),
		fmt.Sprintf("ssl1=fd:%d", b.LineFD),
		"quiet", "loglevel=1",
		// UML's pid and mconsole files; /tmp is the jail's private tmpfs.
		"uml_dir=/tmp",
	}
	args = append(args, hashArgs(b.MemMiB)...)
	args = append(args, freePageArgs...)
	if lpj := hostLPJ(); lpj > 0 {
		// Skips the delay-loop calibration (40 ms of a 60 ms boot); the value only scales
		// udelay().
		args = append(args, fmt.Sprintf("lpj=%d", lpj))
	}
	if b.CPUs > 1 {
		args = append(args, fmt.Sprintf("ncpus=%d", b.CPUs))
	}
	if k.Seccomp {
		args = append(args, "seccomp=on")
	} else {
		// Debian's 6.1 package: skip what dominates its boot (raid6 benchmark 850 ms, legacy
		// ptys 225 ms, zswap 70 ms). Our own kernel config leaves these out instead.
		args = append(args, "initcall_blacklist=raid6_select_algo,init_zswap", "pty.legacy_count=0")
	}
	return args
}

// hashArgs sizes the dentry and inode cache hash tables at one bucket per 64 and 128 KiB of
// guest RAM, an eighth of the kernel's default. Both are allocated and zeroed at boot, so every
// idle guest holds them in host memory: at mem=256M the defaults (32768 and 16384 buckets,
// 384 KiB) cost 0.37 MiB more host PSS than these (measured with bench/lifecycle, -1.4%).
// A guest that caches more dentries than buckets walks longer chains, which costs far less
// than the guest syscall that looked the name up.
func hashArgs(memMiB int) []string {
	return []string{
		fmt.Sprintf("dhash_entries=%d", max(memMiB*16, 1024)),
		fmt.Sprintf("ihash_entries=%d", max(memMiB*8, 512)),
	}
}

// freePageArgs make the guest give the pages it frees back to the host (kernel patch 0011:
// free page reporting punches them out of the memory file). The pages an idle guest frees
// after start (the agent's code, which it pages out) are scattered: blocks of 8 pages and up
// are reported, where the default (4 MiB blocks) reported none of them; orders 1-3 gave back
// the same, 4 gave 0.7 MiB less, 5 1.7 less. A freed page first goes to a per-CPU list the
// reporting does not see (2020 pages, 8 MiB, seen at mem=256M); a high fraction of 1000 keeps
// that list to 61 pages. Measured with an idle guest (mem=256M): -2.2 MiB of guest RAM on the host, no
// change in boot, fork or exec times within noise. Harmless to a kernel without the patch.
var freePageArgs = []string{"page_reporting.page_reporting_order=3", "sysctl.vm.percpu_pagelist_high_fraction=1000"}

// hostLPJ estimates the guest's loops per jiffy from the host CPU's clock: UML's delay loop
// calibrated to about 15,400 loops per MHz (40 M on a 2.6 GHz host). 0 if unknown.
func hostLPJ() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return int(mhz * 15400)
		}
	}
	return 0
}

// InitEnv names the environment variable that overrides the agent binary's path.
const InitEnv = "RUNUML_INIT"

// FindInit returns the path of runuml-init: $RUNUML_INIT, else beside the runuml binary, else
// where `make install` puts it.
func FindInit() string {
	if p := os.Getenv(InitEnv); p != "" {
		return p
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "runuml-init"); fileExists(p) {
			return p
		}
	}
	return "/usr/local/lib/runuml/runuml-init"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
