package agent

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A spec with a user namespace and uid/gid mappings gets a new user namespace in the guest,
// made together with the container's other namespaces (one clone, so they are all owned by
// it, as runc orders it). The agent writes the child's uid_map and gid_map before the child
// goes on (Go's SysProcAttr does it from the parent side), leaves setgroups allowed as runc
// does for a runtime run as root, and the child becomes root of the namespace before it execs
// the stage-2 setup. A user namespace given by path without mappings is not made: the guest
// cannot join a host namespace, and without mappings a new one would map nobody.

// userNamespace reports whether the container gets a user namespace of its own in the guest.
func userNamespace(spec *specs.Spec) bool {
	return hasNamespace(spec, specs.UserNamespace) && len(spec.Linux.UIDMappings) > 0
}

// setUserNamespace adds a new user namespace with the spec's mappings to attr, if the spec
// asks for one.
func setUserNamespace(spec *specs.Spec, attr *syscall.SysProcAttr) {
	if !userNamespace(spec) {
		return
	}
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings = idMaps(spec.Linux.UIDMappings)
	attr.GidMappings = idMaps(spec.Linux.GIDMappings)
	attr.GidMappingsEnableSetgroups = true
	// Root of the new namespace, so the exec of the setup keeps its capabilities there.
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	maps := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		maps[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return maps
}

// An exec'd process joins the container's user namespace before runuml-init runs in it. The
// kernel refuses setns into a user namespace to a process with more than one thread, and
// every Go program has several before main, so the agent's exec stage cannot do it itself,
// nor can the agent's thread that joins the other namespaces. A small program without a
// runtime does it: usernsJoiner is its x86_64 code, written into a sealed memfd as a static
// ELF executable (joinerPath). Started with the user namespace as fd 4 and the program to
// run as its first argument, it does
//
//	setns(4, CLONE_NEWUSER); close(4)
//	setgroups(0, NULL); setresgid(0, 0, 0); setresuid(0, 0, 0)   // root of the namespace
//	execve(argv[1], &argv[1], envp)
//
// and on any failure writes a line to fd 3 (the setup socketpair, which the agent reads as the
// error) and exits with the errno. Assembled with GNU as (.intel_syntax), code at offset 0:
var usernsJoiner = []byte{
	0xbf, 0x04, 0x00, 0x00, 0x00, // mov edi, 4
	0xbe, 0x00, 0x00, 0x00, 0x10, // mov esi, 0x10000000 (CLONE_NEWUSER)
	0xb8, 0x34, 0x01, 0x00, 0x00, // mov eax, 308 (setns)
	0x0f, 0x05, // syscall
	0x48, 0x85, 0xc0, // test rax, rax
	0x75, 0x58, // jnz fail (0x6e)
	0xbf, 0x04, 0x00, 0x00, 0x00, // mov edi, 4
	0xb8, 0x03, 0x00, 0x00, 0x00, // mov eax, 3 (close)
	0x0f, 0x05, // syscall
	0x31, 0xff, // xor edi, edi
	0x31, 0xf6, // xor esi, esi
	0xb8, 0x74, 0x00, 0x00, 0x00, // mov eax, 116 (setgroups)
	0x0f, 0x05, // syscall
	0x48, 0x85, 0xc0, // test rax, rax
	0x75, 0x3c, // jnz fail
	0x31, 0xff, // xor edi, edi
	0x31, 0xf6, // xor esi, esi
	0x31, 0xd2, // xor edx, edx
	0xb8, 0x77, 0x00, 0x00, 0x00, // mov eax, 119 (setresgid)
	0x0f, 0x05, // syscall
	0x48, 0x85, 0xc0, // test rax, rax
	0x75, 0x2a, // jnz fail
	0x31, 0xff, // xor edi, edi
	0x31, 0xf6, // xor esi, esi
	0x31, 0xd2, // xor edx, edx
	0xb8, 0x75, 0x00, 0x00, 0x00, // mov eax, 117 (setresuid)
	0x0f, 0x05, // syscall
	0x48, 0x85, 0xc0, // test rax, rax
	0x75, 0x18, // jnz fail
	0x48, 0x8b, 0x0c, 0x24, // mov rcx, [rsp] (argc)
	0x48, 0x8d, 0x74, 0x24, 0x10, // lea rsi, [rsp+16] (&argv[1])
	0x48, 0x8b, 0x3e, // mov rdi, [rsi] (argv[1])
	0x48, 0x8d, 0x54, 0xcc, 0x10, // lea rdx, [rsp+rcx*8+16] (envp)
	0xb8, 0x3b, 0x00, 0x00, 0x00, // mov eax, 59 (execve)
	0x0f, 0x05, // syscall
	// fail:
	0xf7, 0xd8, // neg eax (errno)
	0x89, 0xc3, // mov ebx, eax
	0xbf, 0x03, 0x00, 0x00, 0x00, // mov edi, 3
	0x48, 0x8d, 0x35, 0x15, 0x00, 0x00, 0x00, // lea rsi, [rip+msg]
	0xba, 0x2c, 0x00, 0x00, 0x00, // mov edx, len(msg)
	0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
	0x0f, 0x05, // syscall
	0x89, 0xdf, // mov edi, ebx
	0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
	0x0f, 0x05, // syscall
	// msg: 44 bytes
	'j', 'o', 'i', 'n', ' ', 't', 'h', 'e', ' ', 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', '\'', 's', ' ',
	'u', 's', 'e', 'r', ' ', 'n', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e', ':', ' ', 'f', 'a', 'i', 'l', 'e', 'd', '\n',
}

// joinerELF wraps code in a static x86_64 ELF executable: the 64-byte header, one PT_LOAD
// program header mapping the whole file read+execute at joinerBase, and the code after them.
func joinerELF(code []byte) []byte {
	const ehdr, phdr, joinerBase = 64, 56, 0x400000
	b := make([]byte, ehdr+phdr, ehdr+phdr+len(code))
	le := binary.LittleEndian
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */})
	le.PutUint16(b[16:], 2)                    // e_type: ET_EXEC
	le.PutUint16(b[18:], 62)                   // e_machine: EM_X86_64
	le.PutUint32(b[20:], 1)                    // e_version
	le.PutUint64(b[24:], joinerBase+ehdr+phdr) // e_entry: the code
	le.PutUint64(b[32:], ehdr)                 // e_phoff
	le.PutUint16(b[52:], ehdr)                 // e_ehsize
	le.PutUint16(b[54:], phdr)                 // e_phentsize
	le.PutUint16(b[56:], 1)                    // e_phnum
	p := b[ehdr:]
	le.PutUint32(p[0:], 1)                            // p_type: PT_LOAD
	le.PutUint32(p[4:], 5)                            // p_flags: R+X
	le.PutUint64(p[16:], joinerBase)                  // p_vaddr
	le.PutUint64(p[24:], joinerBase)                  // p_paddr
	le.PutUint64(p[32:], uint64(ehdr+phdr+len(code))) // p_filesz
	le.PutUint64(p[40:], uint64(ehdr+phdr+len(code))) // p_memsz
	le.PutUint64(p[48:], 0x1000)                      // p_align
	return append(b, code...)
}

var joiner struct {
	once sync.Once
	file *os.File // kept open: the path names its descriptor
	path string
	err  error
}

// joinerPath returns the path to exec the user namespace joiner by (/proc/self/fd/N of a
// sealed memfd the agent keeps open; close-on-exec, which execve closes only once it has
// opened the file).
func joinerPath() (string, error) {
	joiner.once.Do(func() {
		mfd, err := unix.MemfdCreate("runuml-userns", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			joiner.err = fmt.Errorf("user namespace joiner: %w", err)
			return
		}
		// Above the descriptors a child's files are moved to (0-4), which would replace it.
		fd, err := unix.FcntlInt(uintptr(mfd), unix.F_DUPFD_CLOEXEC, 10)
		unix.Close(mfd)
		if err != nil {
			joiner.err = fmt.Errorf("user namespace joiner: %w", err)
			return
		}
		f := os.NewFile(uintptr(fd), "runuml-userns")
		if _, err := f.Write(joinerELF(usernsJoiner)); err != nil {
			joiner.err = fmt.Errorf("user namespace joiner: %w", err)
			return
		}
		unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
		unix.Fchmod(fd, 0o555)
		joiner.file, joiner.path = f, fmt.Sprintf("/proc/self/fd/%d", fd)
	})
	return joiner.path, joiner.err
}
