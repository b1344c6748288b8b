package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/oci"
)

// call is one syscall as a filter sees it.
type call struct {
	name string
	args [6]uint64
	arch uint32 // 0: x86_64
}

// run runs the filter on c in x/net/bpf's VM. Its loads are big-endian, so each 32-bit word
// of seccomp_data is laid out big-endian at its offset: the same word the kernel loads.
func run(t *testing.T, f *Filter, c call) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(f.prog))
	for i, s := range f.prog {
		raw[i] = bpf.RawInstruction{Op: s.Code, Jt: s.Jt, Jf: s.Jf, K: s.K}
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	nr, ok := syscallsX86_64[c.name]
	if !ok {
		t.Fatalf("no syscall %s", c.name)
	}
	arch := c.arch
	if arch == 0 {
		arch = auditArchX86_64
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[offNr:], nr)
	binary.BigEndian.PutUint32(data[offArch:], arch)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(data[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
	}
	v, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

func errno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func uintp(v uint) *uint { return &v }

func TestSeccompRules(t *testing.T) {
	const allow = unix.SECCOMP_RET_ALLOW
	big := uint64(1)<<32 | 5 // a value whose high word matters
	profile := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.EACCES)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "no_such_syscall"}, Action: specs.ActAllow},
			{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV))},
			{Names: []string{"kill"}, Action: specs.ActKillProcess},
			{Names: []string{"getpid"}, Action: specs.ActErrno},
			// socket: allowed for families < 3 or == 10; an unconditional rule listed
			// first still comes after them.
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EAFNOSUPPORT))},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 3, Op: specs.OpLessThan}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 10, Op: specs.OpEqualTo}}},
			// clone: allowed unless a namespace flag is set (docker's rule).
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 2114060288, Op: specs.OpMaskedEqual}}},
			// Several conditions on distinct arguments: all must hold.
			{Names: []string{"pread64"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: big, Op: specs.OpGreaterEqual}, {Index: 2, Value: big, Op: specs.OpLessEqual}}},
			// On the same argument: alternatives.
			{Names: []string{"pwrite64"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: big, Op: specs.OpGreaterThan}, {Index: 1, Value: 7, Op: specs.OpEqualTo}}},
			{Names: []string{"dup"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpNotEqual}}},
			{Names: []string{"dup2"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpLessThan}}},
		},
	}
	f, err := Compile(profile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    call
		want uint32
	}{
		{call{name: "read"}, allow},
		{call{name: "write"}, allow},
		{call{name: "open"}, errno(unix.EACCES)},
		{call{name: "mkdir"}, errno(unix.EXDEV)},
		{call{name: "getpid"}, errno(unix.EPERM)},
		{call{name: "kill"}, unix.SECCOMP_RET_KILL_PROCESS},
		{call{name: "read", arch: 0x40000003}, unix.SECCOMP_RET_KILL_PROCESS}, // i386
		{call{name: "rseq_slice_yield"}, errno(unix.ENOSYS)},                  // newer than any named
		{call{name: "socket", args: [6]uint64{1}}, allow},
		{call{name: "socket", args: [6]uint64{2}}, allow},
		{call{name: "socket", args: [6]uint64{3}}, errno(unix.EAFNOSUPPORT)},
		{call{name: "socket", args: [6]uint64{10}}, allow},
		{call{name: "socket", args: [6]uint64{1 << 32}}, errno(unix.EAFNOSUPPORT)},
		{call{name: "clone", args: [6]uint64{uint64(unix.SIGCHLD) | unix.CLONE_VM}}, allow},
		{call{name: "clone", args: [6]uint64{uint64(unix.SIGCHLD) | unix.CLONE_NEWUSER}}, errno(unix.EACCES)},
		{call{name: "pread64", args: [6]uint64{big, 0, big}}, allow},
		{call{name: "pread64", args: [6]uint64{big + 1, 0, 4}}, allow},
		{call{name: "pread64", args: [6]uint64{big - 1, 0, 4}}, errno(unix.EACCES)},
		{call{name: "pread64", args: [6]uint64{big, 0, big + 1}}, errno(unix.EACCES)},
		{call{name: "pread64", args: [6]uint64{big, 0, 1 << 33}}, errno(unix.EACCES)},
		{call{name: "pread64", args: [6]uint64{6, 0, 4}}, errno(unix.EACCES)}, // low word above, high below
		{call{name: "pwrite64", args: [6]uint64{0, 7}}, allow},
		{call{name: "pwrite64", args: [6]uint64{0, big + 1}}, allow},
		{call{name: "pwrite64", args: [6]uint64{0, 2 << 32}}, allow},
		{call{name: "pwrite64", args: [6]uint64{0, big}}, errno(unix.EACCES)},
		{call{name: "pwrite64", args: [6]uint64{0, 8}}, errno(unix.EACCES)},
		{call{name: "dup", args: [6]uint64{5}}, unix.SECCOMP_RET_LOG},
		{call{name: "dup", args: [6]uint64{1<<33 | 5}}, unix.SECCOMP_RET_LOG},
		{call{name: "dup", args: [6]uint64{big}}, errno(unix.EACCES)},
		{call{name: "dup2", args: [6]uint64{big - 1}}, allow},
		{call{name: "dup2", args: [6]uint64{6}}, allow},
		{call{name: "dup2", args: [6]uint64{big}}, errno(unix.EACCES)},
		{call{name: "dup2", args: [6]uint64{2<<32 | 1}}, errno(unix.EACCES)},
	} {
		if got := run(t, f, tc.c); got != tc.want {
			t.Errorf("%s(%#x): %#x, want %#x", tc.c.name, tc.c.args[:3], got, tc.want)
		}
	}
}

func TestSeccompDefaultAllow(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"unshare"}, Action: specs.ActErrno}}})
	if err != nil {
		t.Fatal(err)
	}
	if f.flags != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Errorf("flags %#x", f.flags)
	}
	for name, want := range map[string]uint32{"unshare": errno(unix.EPERM), "read": unix.SECCOMP_RET_ALLOW,
		"rseq_slice_yield": unix.SECCOMP_RET_ALLOW} {
		if got := run(t, f, call{name: name}); got != want {
			t.Errorf("%s: %#x, want %#x", name, got, want)
		}
	}
}

func TestSeccompRefused(t *testing.T) {
	for name, p := range map[string]*specs.LinuxSeccomp{
		"notify":   {DefaultAction: specs.ActNotify},
		"action":   {DefaultAction: "SCMP_ACT_NOPE"},
		"operator": {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_NOPE"}}}}},
		"index":    {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		"flag":     {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NOPE"}},
		"listener": {DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"},
	} {
		if _, err := Compile(p); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

// TestSeccompDocker compiles docker's default profile as docker hands it to runc and checks
// a few of its decisions.
func TestSeccompDocker(t *testing.T) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: []string{"CAP_CHOWN", "CAP_KILL"}}}}
	profile, err := moby.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Compile(profile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("docker's default profile: %d instructions", len(f.prog))
	for _, tc := range []struct {
		c    call
		want uint32
	}{
		{call{name: "read"}, unix.SECCOMP_RET_ALLOW},
		{call{name: "execve"}, unix.SECCOMP_RET_ALLOW},
		{call{name: "unshare"}, errno(unix.EPERM)},
		{call{name: "mount"}, errno(unix.EPERM)},
		{call{name: "clone3"}, errno(unix.ENOSYS)},
		{call{name: "clone", args: [6]uint64{uint64(unix.SIGCHLD)}}, unix.SECCOMP_RET_ALLOW},
		{call{name: "clone", args: [6]uint64{unix.CLONE_NEWNS}}, errno(unix.EPERM)},
		{call{name: "personality", args: [6]uint64{0xffffffff}}, unix.SECCOMP_RET_ALLOW},
		{call{name: "personality", args: [6]uint64{1}}, errno(unix.EPERM)},
		{call{name: "socket", args: [6]uint64{unix.AF_INET}}, unix.SECCOMP_RET_ALLOW},
		{call{name: "socket", args: [6]uint64{unix.AF_VSOCK}}, errno(unix.EPERM)},
		{call{name: "rseq_slice_yield"}, errno(unix.ENOSYS)},
	} {
		if got := run(t, f, tc.c); got != tc.want {
			t.Errorf("%s(%#x): %#x, want %#x", tc.c.name, tc.c.args[:1], got, tc.want)
		}
	}
}

// TestSeccompFeatures checks that what `runuml features` lists is what compiles.
func TestSeccompFeatures(t *testing.T) {
	for _, a := range oci.SeccompActions {
		if _, err := seccompAction(specs.LinuxSeccompAction(a), nil); err != nil {
			t.Errorf("listed action %s: %v", a, err)
		}
	}
	for _, op := range oci.SeccompOperators {
		if _, err := compareCode(specs.LinuxSeccompArg{Op: specs.LinuxSeccompOperator(op)}, 0); err != nil {
			t.Errorf("listed operator %s: %v", op, err)
		}
	}
	for _, fl := range oci.SeccompFlags {
		if _, ok := seccompFlagValues[specs.LinuxSeccompFlag(fl)]; !ok {
			t.Errorf("listed flag %s is refused", fl)
		}
	}
	if len(oci.SeccompActions) != 8 || len(oci.SeccompOperators) != 7 {
		t.Errorf("features list %d actions and %d operators; the compiler takes 8 and 7", len(oci.SeccompActions), len(oci.SeccompOperators))
	}
}

func BenchmarkCompileDocker(b *testing.B) {
	profile, err := moby.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compile(profile); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecSetup is what an exec'd process adds for seccomp: parse the container's
// config with docker's profile, and compile it.
func BenchmarkExecSetup(b *testing.B) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}, Linux: &specs.Linux{}}
	profile, err := moby.GetDefaultProfile(spec)
	if err != nil {
		b.Fatal(err)
	}
	spec.Linux.Seccomp = profile
	data, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var s specs.Spec
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(s.Linux.Seccomp); err != nil {
			b.Fatal(err)
		}
	}
}
