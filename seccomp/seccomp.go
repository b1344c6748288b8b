// Package seccomp compiles an OCI seccomp profile to classic BPF and installs it, in pure Go:
// the guest agent is static and cgo-free, so it cannot use libseccomp. It filters x86_64
// syscalls only: the guest is x86_64 UML, which has no 32-bit syscall entry, and the host side
// (the guest kernel's own filter) runs on x86_64.
package seccomp

import (
	"fmt"
	"slices"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (little-endian x86_64).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// The arch word of an x86_64 syscall (AUDIT_ARCH_X86_64).
const auditArchX86_64 = 0xc000003e

// Filter is a compiled profile, installed by the thread that then execs.
type Filter struct {
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

// syscallRules are the rules of one syscall: the conditional ones in order, then the
// unconditional action if there is one.
type syscallRules struct {
	conditional   []rule
	unconditional bool
	action        uint32
}

// syscallMax is the highest number in syscallsX86_64.
var syscallMax = func() (m uint32) {
	for _, nr := range syscallsX86_64 {
		m = max(m, nr)
	}
	return m
}()

// Compile compiles a profile; nil compiles to nil. Syscall names this table does not
// know are skipped, as runc skips names libseccomp does not know.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
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
	f := &Filter{}
	for _, fl := range s.Flags {
		v, ok := seccompFlagValues[fl]
		if !ok {
			return nil, fmt.Errorf("seccomp: unknown flag %q", fl)
		}
		f.flags |= v
	}
	// Per syscall: conditional rules first, in profile order, then the first unconditional
	// one, so a specific rule wins over a general one whatever their order in the profile.
	table := make([]syscallRules, syscallMax+1)
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
			t := &table[nr]
			if len(sc.Args) > 0 {
				t.conditional = append(t.conditional, splitRule(sc.Args, action)...)
			} else if !t.unconditional {
				t.unconditional, t.action = true, action
			}
		}
	}
	var nrs []uint32
	for nr := range table {
		if table[nr].unconditional || len(table[nr].conditional) > 0 {
			nrs = append(nrs, uint32(nr))
		}
	}

	prog := []insn{
		stmt(ldAbs, offArch),
		jump(jeq, auditArchX86_64, 1, 0),
		stmt(ret, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(ldAbs, offNr),
	}
	// As runc does: a syscall newer than any the profile names gets ENOSYS rather than a
	// denial, so that libc falls back to an older one (clone3 -> clone).
	if len(nrs) > 0 && def != unix.SECCOMP_RET_ALLOW && def != unix.SECCOMP_RET_LOG {
		prog = append(prog, jump(jgt, nrs[len(nrs)-1], 0, 1), stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	}
	tree, err := searchTree(nrs, table, def)
	if err != nil {
		return nil, err
	}
	f.prog = append(prog, tree...)
	if len(f.prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: filter of %d instructions is too long", len(f.prog))
	}
	return f, nil
}

// insn is one classic BPF instruction. The code is built as plain values: boxing each in
// x/net/bpf's Instruction cost ~4,000 allocations for docker's profile, and every page the
// guest faults in is expensive.
type insn = unix.SockFilter

// The instructions a filter uses: load a word of seccomp_data, and, compare with a
// constant, jump, return.
const (
	ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	and   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgt   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	ja    = unix.BPF_JMP | unix.BPF_JA
	ret   = unix.BPF_RET | unix.BPF_K
)

func stmt(code uint16, k uint32) insn { return insn{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) insn { return insn{Code: code, K: k, Jt: jt, Jf: jf} }

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
func searchTree(nrs []uint32, table []syscallRules, def uint32) ([]insn, error) {
	if len(nrs) <= leafSize {
		var code []insn
		for _, nr := range nrs {
			t := &table[nr]
			if len(t.conditional) == 0 { // the common case, without building a block
				code = append(code, jump(jeq, nr, 0, 1), stmt(ret, t.action))
				continue
			}
			block, err := syscallBlock(t, def)
			if err != nil {
				return nil, err
			}
			code = append(code, runIf(jeq, nr, true, block)...)
		}
		return append(code, stmt(ret, def)), nil
	}
	mid := len(nrs) / 2
	left, err := searchTree(nrs[:mid], table, def)
	if err != nil {
		return nil, err
	}
	right, err := searchTree(nrs[mid:], table, def)
	if err != nil {
		return nil, err
	}
	// A < nrs[mid]: the left half, which comes first; else the right one.
	return append(runIf(jge, nrs[mid], false, left), right...), nil
}

// runIf returns code that runs body when (A op k) is want and else skips it. BPF's
// conditional jumps reach 255 instructions; a longer body is jumped over with a long jump.
func runIf(op uint16, k uint32, want bool, body []insn) []insn {
	n := len(body)
	code := make([]insn, 0, n+2)
	if n <= 255 {
		j := jump(op, k, 0, uint8(n))
		if !want {
			j.Jt, j.Jf = j.Jf, j.Jt
		}
		code = append(code, j)
	} else {
		j := jump(op, k, 1, 0) // over the long jump, into the body
		if !want {
			j.Jt, j.Jf = j.Jf, j.Jt
		}
		code = append(code, j, stmt(ja, uint32(n)))
	}
	return append(code, body...)
}

// syscallBlock tries a syscall's rules in order: the first whose conditions hold gives its
// action; if none does, def. It ends in a return.
func syscallBlock(t *syscallRules, def uint32) ([]insn, error) {
	// Built back to front: a failed condition jumps past its rule's return, to the code of
	// the next rule, which is already built.
	var rev []insn
	if t.unconditional {
		rev = append(rev, stmt(ret, t.action))
	} else {
		rev = append(rev, stmt(ret, def))
	}
	rs := t.conditional
	for i := len(rs) - 1; i >= 0; i-- {
		rev = append(rev, stmt(ret, rs[i].action))
		tail := 1 // this rule's instructions after the condition being built
		for j := len(rs[i].args) - 1; j >= 0; j-- {
			c, err := compareCode(rs[i].args[j], tail)
			if err != nil {
				return nil, err
			}
			for k := len(c) - 1; k >= 0; k-- {
				rev = append(rev, c[k])
			}
			tail += len(c)
		}
	}
	slices.Reverse(rev)
	return rev, nil
}

// compareCode returns code that compares a 64-bit argument, falls through when the
// condition holds, and otherwise skips the rest of its code and then tail more instructions.
func compareCode(a specs.LinuxSeccompArg, tail int) ([]insn, error) {
	lo := stmt(ldAbs, offArgs+8*uint32(a.Index))
	hi := stmt(ldAbs, offArgs+8*uint32(a.Index)+4)
	vhi, vlo := uint32(a.Value>>32), uint32(a.Value)
	// fail and pass stand for the jumps' targets until the code's length is known: pass
	// is the end of this condition's code, fail the end of its rule.
	const fail, pass = 0xfe, 0xfd
	var code []insn
	switch a.Op {
	case specs.OpEqualTo:
		code = []insn{hi, jump(jeq, vhi, 0, fail), lo, jump(jeq, vlo, 0, fail)}
	case specs.OpNotEqual:
		code = []insn{hi, jump(jeq, vhi, 0, pass), lo, jump(jeq, vlo, fail, 0)}
	case specs.OpMaskedEqual: // (arg & value) == valueTwo
		mhi, mlo := uint32(a.Value>>32), uint32(a.Value)
		whi, wlo := uint32(a.ValueTwo>>32), uint32(a.ValueTwo)
		code = []insn{hi, stmt(and, mhi), jump(jeq, whi, 0, fail), lo, stmt(and, mlo), jump(jeq, wlo, 0, fail)}
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		last := jump(jgt, vlo, 0, fail)
		if a.Op == specs.OpGreaterEqual {
			last.Code = jge
		}
		code = []insn{hi, jump(jgt, vhi, pass, 0), jump(jeq, vhi, 0, fail), lo, last}
	case specs.OpLessThan, specs.OpLessEqual:
		last := jump(jge, vlo, fail, 0)
		if a.Op == specs.OpLessEqual {
			last.Code = jgt
		}
		code = []insn{hi, jump(jgt, vhi, fail, 0), jump(jeq, vhi, 0, pass), lo, last}
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
	for i := range code {
		if code[i].Code&0x07 == unix.BPF_JMP {
			code[i].Jt, code[i].Jf = resolve(i, code[i].Jt), resolve(i, code[i].Jf)
		}
	}
	return code, nil
}

// Install loads the filter for this thread, which keeps it across execve. Without
// no_new_privs the kernel requires CAP_SYS_ADMIN.
func (f *Filter) Install() error {
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
