package agent

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestJoinerELF checks the joiner's ELF wrapping as Go's own ELF reader sees it.
func TestJoinerELF(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(joinerELF(usernsJoiner)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.Entry != 0x400000+64+56 {
		t.Errorf("header: class %v machine %v type %v entry %#x", f.Class, f.Machine, f.Type, f.Entry)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Progs[0].Filesz != uint64(64+56+len(usernsJoiner)) {
		t.Errorf("program headers: %+v", f.Progs)
	}
	// The write's length (mov edx, imm32 at offset 0x7f) is the message's.
	msg := "join the container's user namespace: failed\n"
	if n := int(usernsJoiner[0x7f]); n != len(msg) || !bytes.HasSuffix(usernsJoiner, []byte(msg)) {
		t.Errorf("message length %d, message %q", n, usernsJoiner[len(usernsJoiner)-len(msg):])
	}
}

// TestJoiner runs the joiner on this host: it enters a user namespace mapping 0 to 1000 given
// as fd 4 and runs a shell there as its root; given something else it reports on fd 3.
func TestJoiner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make a user namespace with another uid's mapping")
	}
	joiner := filepath.Join(t.TempDir(), "joiner")
	if err := os.WriteFile(joiner, joinerELF(usernsJoiner), 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 65536}}
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: m, GidMappings: m,
		GidMappingsEnableSetgroups: true}
	if err := holder.Start(); err != nil {
		t.Skipf("cannot make a user namespace here: %v", err)
	}
	defer holder.Wait()
	defer holder.Process.Kill()
	userns, err := os.Open("/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	defer userns.Close()

	run := func(ns *os.File) (string, string, error) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out bytes.Buffer
		cmd := exec.Command(joiner, "/bin/sh", "-c", "cat /proc/self/uid_map; id -u; id -g")
		cmd.Stdout, cmd.ExtraFiles = &out, []*os.File{w, ns}
		err = cmd.Run()
		w.Close()
		report := make([]byte, 256)
		n, _ := r.Read(report)
		return out.String(), string(report[:n]), err
	}
	out, report, err := run(userns)
	if got := strings.Join(strings.Fields(out), " "); err != nil || got != "0 1000 65536 0 0" || report != "" {
		t.Errorf("joined: %v, output %q, report %q; want the mapping, uid 0, gid 0", err, out, report)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	out, report, err = run(null)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != int(syscall.EINVAL) || out != "" || report != "join the container's user namespace: failed\n" {
		t.Errorf("not a namespace: %v, output %q, report %q; want exit %d and the report", err, out, report, syscall.EINVAL)
	}
}
