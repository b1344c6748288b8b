package agent

import (
	"fmt"
	"slices"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The agent is static and cgo-free, so it cannot use libseccomp: it compiles the spec's
// profile to classic BPF itself. The guest is x86_64 UML, which has no 32-bit syscall entry:
// every syscall a filter sees is an x86_64 one.

// Offsets in struct seccomp_data (little-endian x86_64).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// The arch word of an x86_64 syscall (AUDIT_ARCH_X86_64).
const auditArchX86_64 = 0xc000003e

// seccompFilter is a compiled profile, installed by the thread that then execs.
type seccompFilter struct {
	prog  []unix.SockFilter
	flags uintptr
}

// seccompAction returns the filter's return value for an action, with errnoRet (EPERM when
// unset, as runc has it) for SCMP_ACT_ERRNO and SCMP_ACT_TRACE.
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		data = uint32(*errnoRet) & unix.SECCOMP_RET_DATA
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("seccomp: %s is not supported", a)
	}
	return 0, fmt.Errorf("seccomp: unknown action %q", a)
}

var seccompFlagValues = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	// The filter is installed by the one thread that execs, so syncing threads is moot.
	"SECCOMP_FILTER_FLAG_TSYNC": 0,
	// Only meaningful with a listener (SCMP_ACT_NOTIFY), which is refused.
	specs.LinuxSeccompFlagWaitKillableRecv: 0,
}

// rule is one way a syscall can match: all its conditions hold.
type rule struct {
	args   []specs.LinuxSeccompArg
	action uint32
}

// compileSeccomp compiles a profile; nil compiles to nil. Syscall names this table does not
// know are skipped, as runc skips names libseccomp does not know.
func compileSeccomp(s *specs.LinuxSeccomp) (*seccompFilter, error) {
	if s == nil {
		return nil, nil
	}
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath is not supported")
	}
	def, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	f := &seccompFilter{}
	for _, fl := range s.Flags {
		v, ok := seccompFlagValues[fl]
		if !ok {
			return nil, fmt.Errorf("seccomp: unknown flag %q", fl)
		}
		f.flags |= v
	}
	// Per syscall: conditional rules first, in profile order, then the first unconditional
	// one, so a specific rule wins over a general one whatever their order in the profile.
	conditional, unconditional := map[uint32][]rule{}, map[uint32]*rule{}
	for _, sc := range s.Syscalls {
		action, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("seccomp: argument index %d out of range", a.Index)
			}
			if _, err := compareCode(a, 0); err != nil {
				return nil, err
			}
		}
		for _, name := range sc.Names {
			nr, ok := syscallsX86_64[name]
			if !ok {
				continue
			}
			if len(sc.Args) == 0 {
				if unconditional[nr] == nil {
					unconditional[nr] = &rule{action: action}
				}
				continue
			}
			conditional[nr] = append(conditional[nr], splitRule(sc.Args, action)...)
		}
	}
	rules := map[uint32][]rule{}
	for nr, rs := range conditional {
		rules[nr] = rs
	}
	for nr, r := range unconditional {
		rules[nr] = append(rules[nr], *r)
	}
	nrs := make([]uint32, 0, len(rules))
	for nr := range rules {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)

	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX86_64, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	// As runc does: a syscall newer than any the profile names gets ENOSYS rather than a
	// denial, so that libc falls back to an older one (clone3 -> clone).
	if len(nrs) > 0 && def != unix.SECCOMP_RET_ALLOW && def != unix.SECCOMP_RET_LOG {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: nrs[len(nrs)-1], SkipFalse: 1},
			bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)})
	}
	tree, err := searchTree(nrs, rules, def)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(append(prog, tree...))
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if len(raw) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: filter of %d instructions is too long", len(raw))
	}
	f.prog = make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f.prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return f, nil
}

// splitRule makes the rules for one syscall entry. Conditions on distinct arguments must
// all hold; several on the same argument are alternatives, as runc treats them.
func splitRule(args []specs.LinuxSeccompArg, action uint32) []rule {
	seen := map[uint]bool{}
	for _, a := range args {
		if seen[a.Index] {
			rs := make([]rule, len(args))
			for i := range args {
				rs[i] = rule{args: args[i : i+1], action: action}
			}
			return rs
		}
		seen[a.Index] = true
	}
	return []rule{{args: args, action: action}}
}

// leafSize is how many syscalls a leaf of the search tree compares one after another.
const leafSize = 4

// searchTree returns code that, with the syscall number in A, runs the rules of nrs (sorted)
// by binary search, or returns def. Every path through it ends in a return.
func searchTree(nrs []uint32, rules map[uint32][]rule, def uint32) ([]bpf.Instruction, error) {
	if len(nrs) <= leafSize {
		var code []bpf.Instruction
		for _, nr := range nrs {
			block, err := syscallBlock(rules[nr], def)
			if err != nil {
				return nil, err
			}
			code = append(code, jumpIf(bpf.JumpEqual, nr, block)...)
		}
		return append(code, bpf.RetConstant{Val: def}), nil
	}
	mid := len(nrs) / 2
	left, err := searchTree(nrs[:mid], rules, def)
	if err != nil {
		return nil, err
	}
	right, err := searchTree(nrs[mid:], rules, def)
	if err != nil {
		return nil, err
	}
	// A >= nrs[mid]: the right half; else the left one, which comes first.
	code := jumpIf(bpf.JumpLessThan, nrs[mid], left)
	return append(code, right...), nil
}

// jumpIf returns code that runs body when A cond val holds and else skips it. BPF's
// conditional jumps reach 255 instructions; a longer body is jumped over with a long jump.
func jumpIf(cond bpf.JumpTest, val uint32, body []bpf.Instruction) []bpf.Instruction {
	if len(body) <= 255 {
		return append([]bpf.Instruction{bpf.JumpIf{Cond: cond, Val: val, SkipFalse: uint8(len(body))}}, body...)
	}
	return append([]bpf.Instruction{
		bpf.JumpIf{Cond: cond, Val: val, SkipTrue: 1},
		bpf.Jump{Skip: uint32(len(body))},
	}, body...)
}

// syscallBlock tries a syscall's rules in order: the first whose conditions hold gives its
// action; if none does, def. It ends in a return.
func syscallBlock(rs []rule, def uint32) ([]bpf.Instruction, error) {
	code := []bpf.Instruction{bpf.RetConstant{Val: def}}
	for i := len(rs) - 1; i >= 0; i-- {
		// Built back to front: a failed condition jumps past this rule's return, to the
		// code of the next rule, which is already in code.
		tail := []bpf.Instruction{bpf.RetConstant{Val: rs[i].action}}
		for j := len(rs[i].args) - 1; j >= 0; j-- {
			c, err := compareCode(rs[i].args[j], len(tail))
			if err != nil {
				return nil, err
			}
			tail = append(c, tail...)
		}
		if len(tail) > 255 {
			return nil, fmt.Errorf("seccomp: rule too large")
		}
		code = append(tail, code...)
	}
	return code, nil
}

// compareCode returns code that compares a 64-bit argument, falls through when the
// condition holds, and otherwise skips the rest of its code and then tail more instructions.
func compareCode(a specs.LinuxSeccompArg, tail int) ([]bpf.Instruction, error) {
	lo := bpf.LoadAbsolute{Off: offArgs + 8*uint32(a.Index), Size: 4}
	hi := bpf.LoadAbsolute{Off: offArgs + 8*uint32(a.Index) + 4, Size: 4}
	vhi, vlo := uint32(a.Value>>32), uint32(a.Value)
	var code []bpf.Instruction
	// fail and pass are filled in below, once the code's length is known.
	const fail, pass = 0xfe, 0xfd
	switch a.Op {
	case specs.OpEqualTo:
		code = []bpf.Instruction{hi, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: fail},
			lo, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vlo, SkipFalse: fail}}
	case specs.OpNotEqual:
		code = []bpf.Instruction{hi, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: pass},
			lo, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vlo, SkipTrue: fail}}
	case specs.OpMaskedEqual: // (arg & value) == valueTwo
		mhi, mlo := uint32(a.Value>>32), uint32(a.Value)
		whi, wlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		code = []bpf.Instruction{hi, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mhi},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: whi, SkipFalse: fail},
			lo, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mlo},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: wlo, SkipFalse: fail}}
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		last := bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: vlo, SkipFalse: fail}
		if a.Op == specs.OpGreaterEqual {
			last.Cond = bpf.JumpGreaterOrEqual
		}
		code = []bpf.Instruction{hi, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: vhi, SkipTrue: pass},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: fail}, lo, last}
	case specs.OpLessThan, specs.OpLessEqual:
		last := bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: vlo, SkipTrue: fail}
		if a.Op == specs.OpLessEqual {
			last.Cond = bpf.JumpGreaterThan
		}
		code = []bpf.Instruction{hi, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: vhi, SkipTrue: fail},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: pass}, lo, last}
	default:
		return nil, fmt.Errorf("seccomp: unknown operator %q", a.Op)
	}
	n := len(code)
	if n+tail > 255 {
		return nil, fmt.Errorf("seccomp: rule too large")
	}
	resolve := func(i int, skip uint8) uint8 {
		switch skip {
		case fail:
			return uint8(n - 1 - i + tail)
		case pass:
			return uint8(n - 1 - i)
		}
		return skip
	}
	for i, ins := range code {
		if j, ok := ins.(bpf.JumpIf); ok {
			j.SkipTrue, j.SkipFalse = resolve(i, j.SkipTrue), resolve(i, j.SkipFalse)
			code[i] = j
		}
	}
	return code, nil
}

// install loads the filter for this thread, which keeps it across execve. Without
// no_new_privs the kernel requires CAP_SYS_ADMIN.
func (f *seccompFilter) install() error {
	if f == nil {
		return nil
	}
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("load seccomp filter: %w", errno)
	}
	return nil
}

// containerSeccomp is the spec's seccomp profile, or nil.
func containerSeccomp(spec *specs.Spec) *specs.LinuxSeccomp {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Seccomp
}
