package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// HookKind names one list of config.json's hooks, as the spec spells it.
type HookKind string

// The hook kinds, in the order the lifecycle runs them.
const (
	Prestart        HookKind = "prestart"
	CreateRuntime   HookKind = "createRuntime"
	CreateContainer HookKind = "createContainer"
	StartContainer  HookKind = "startContainer"
	Poststart       HookKind = "poststart"
	Poststop        HookKind = "poststop"
)

// DefaultHookTimeout bounds a hook whose config gives no timeout. runc sets none; a hung hook
// would then hang create (and the monitor) forever. Two minutes is kubelet's default runtime
// request timeout: by then every caller has given up anyway.
const DefaultHookTimeout = 2 * time.Minute

// hookOutputMax is how much of a failing hook's stdout and stderr its error quotes.
const hookOutputMax = 4096

// Of returns the hooks of kind k in h (nil h: none).
func (k HookKind) Of(h *specs.Hooks) []specs.Hook {
	if h == nil {
		return nil
	}
	switch k {
	case Prestart:
		//lint:ignore SA1019 deprecated by the spec, but docker's network hook is a prestart hook
		return h.Prestart
	case CreateRuntime:
		return h.CreateRuntime
	case CreateContainer:
		return h.CreateContainer
	case StartContainer:
		return h.StartContainer
	case Poststart:
		return h.Poststart
	case Poststop:
		return h.Poststop
	}
	return nil
}

// RunHooks runs hooks of kind in order, each with state's JSON on its stdin. A hook fails
// when it exits non-zero, cannot be started, or runs past its timeout; the error is worded
// as runc's: "error running prestart hook #0: exit status 1, stdout: ..., stderr: ...".
// The first failure stops the list, except for poststart and poststop hooks, whose failures
// the lifecycle survives: the rest run, and the error joins every failure.
//
// Each hook runs as given: path, args (args[0] included) and env; a hook without env
// inherits ours, as with runc. Its working directory is the bundle, where runc runs too.
// It runs in a process group of its own, killed whole when it times out.
func RunHooks(kind HookKind, hooks []specs.Hook, state specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	var errs []error
	for i, h := range hooks {
		if err := runHook(h, data, state.Bundle); err != nil {
			errs = append(errs, fmt.Errorf("error running %s hook #%d: %w", kind, i, err))
			if kind != Poststop { // the spec: the remaining poststop hooks still run
				break
			}
		}
	}
	return errors.Join(errs...)
}

func runHook(h specs.Hook, state []byte, bundle string) error {
	// Files, not pipes, for its stdio: a daemon the hook leaves behind may keep them open
	// without holding us up, and the state is there to read whether or not the hook does.
	stdin, err := memFile("hook-stdin", state)
	if err != nil {
		return err
	}
	defer stdin.Close()
	stdout, err := memFile("hook-stdout", nil)
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := memFile("hook-stderr", nil)
	if err != nil {
		return err
	}
	defer stderr.Close()

	cmd := &exec.Cmd{Path: h.Path, Args: h.Args, Env: h.Env, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if fi, err := os.Stat(bundle); err == nil && fi.IsDir() {
		cmd.Dir = bundle
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	timeout := DefaultHookTimeout
	if h.Timeout != nil {
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	timer := time.AfterFunc(timeout, func() { unix.Kill(-cmd.Process.Pid, unix.SIGKILL) })
	err = cmd.Wait()
	if !timer.Stop() {
		return fmt.Errorf("hook ran past specified timeout of %.1fs", timeout.Seconds())
	}
	if err != nil {
		return fmt.Errorf("%w, stdout: %s, stderr: %s", err, head(stdout), head(stderr))
	}
	return nil
}

// memFile returns an anonymous file in memory holding data, its offset at the start.
func memFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if len(data) > 0 {
		if _, err := f.Write(data); err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// head returns the start of what a hook wrote to f.
func head(f *os.File) string {
	buf := make([]byte, hookOutputMax)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return string(buf[:n])
}
