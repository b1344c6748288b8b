package container

import (
	"fmt"
	"os/exec"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/netplug"
	"github.com/runuml/runuml/oci"
)

// The monitor lives in the container's network namespace: hooks (docker's networking) find
// it through the monitor's pid, and netplug hands what they put there to the guest.

// networkNamespace returns the spec's network namespace path ("" for a new one), or an
// error when the spec has none or names the host's: the guest has its own network stack and
// cannot share the host's.
func networkNamespace(spec *specs.Spec) (string, error) {
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				if ns.Path != "" {
					if err := netplug.CheckNotHost(ns.Path); err != nil {
						return "", fmt.Errorf("%w: %w", oci.ErrBadConfig, err)
					}
				}
				return ns.Path, nil
			}
		}
	}
	return "", fmt.Errorf("%w: linux.namespaces has no network namespace: a runuml guest has its own network stack and cannot share the host's (docker --network host is not supported)", oci.ErrBadConfig)
}

// startInNetns starts cmd in a new network namespace, or in the one at path.
func startInNetns(cmd *exec.Cmd, path string) error {
	if path == "" {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNET
		return cmd.Start()
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer unix.Close(fd)
	// The child is forked from this thread, which joins the namespace and is never
	// unlocked: it ends with the goroutine instead of serving others.
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("join network namespace %s: %w", path, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}
