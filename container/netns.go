package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/netplug"
	"github.com/runuml/runuml/oci"
)

// The monitor lives in the container's network namespace: hooks (docker's networking) find
// it through the monitor's pid, and netplug hands what they put there to the guest.

// networkNamespace returns the spec's network namespace path ("" for a new one), or an
// error when the spec has none or names the host's: the guest has its own network stack and
// cannot share the host's. An unprivileged caller (see startInNetns) cannot join one by path.
func networkNamespace(spec *specs.Spec, rootless bool) (string, error) {
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				if ns.Path != "" && ownUserns(rootless) {
					return "", fmt.Errorf("%w: network namespace %s: a rootless runuml cannot join a network namespace by path "+
						"(it runs as uid %d, without CAP_SYS_ADMIN over it); leave the path out for a new one", oci.ErrBadConfig, ns.Path, os.Geteuid())
				}
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

// ownUserns reports whether the monitor gets a user namespace of its own (see startInNetns).
func ownUserns(rootless bool) bool { return rootless && os.Geteuid() != 0 }

// startInNetns starts cmd in a new network namespace, or in the one at path. A rootless
// caller that is not root of a user namespace already (rootlesskit's) has no capability to
// make namespaces or jails: cmd gets a user namespace of its own first, the caller's uid and
// gid mapped to root (all an unprivileged process may map itself), which then owns the new
// network namespace and everything the monitor makes. So the caller's files are root's there,
// and the guest's through hostfs.
func startInNetns(cmd *exec.Cmd, path string, rootless bool) error {
	if ownUserns(rootless) {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		// An unprivileged process may write its gid map only with setgroups denied.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	if path == "" {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNET
		err := cmd.Start()
		if errors.Is(err, unix.EPERM) && !rootless && os.Geteuid() != 0 {
			err = fmt.Errorf("%w (uid %d with --rootless false: only root may make the monitor's namespaces)", err, os.Geteuid())
		}
		return err
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
