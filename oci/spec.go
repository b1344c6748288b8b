package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// validID is runc's rule for container ids.
var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// CheckID returns ErrInvalidID unless id is a usable container id.
func CheckID(id string) error {
	if id == "" || len(id) > 1024 || !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// LoadSpec reads and validates BUNDLE/config.json. The returned spec has its root path made
// absolute (relative to the bundle), so callers never resolve it again.
func LoadSpec(bundle string) (*specs.Spec, error) {
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s not found", ErrBadConfig, path)
	}
	if err != nil {
		return nil, err
	}
	return ParseSpec(data, bundle)
}

// ParseSpec decodes and validates a config.json whose bundle directory is bundle.
func ParseSpec(data []byte, bundle string) (*specs.Spec, error) {
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("%w: config.json: %v", ErrBadConfig, err)
	}
	if err := validate(&spec); err != nil {
		return nil, fmt.Errorf("%w: config.json: %v", ErrBadConfig, err)
	}
	if !filepath.IsAbs(spec.Root.Path) {
		spec.Root.Path = filepath.Join(bundle, spec.Root.Path)
	}
	if fi, err := os.Stat(spec.Root.Path); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: rootfs %s is not a directory", ErrBadConfig, spec.Root.Path)
	}
	for _, m := range spec.Mounts {
		if IsBind(m) {
			if _, err := os.Stat(m.Source); err != nil {
				return nil, fmt.Errorf("%w: mount %s: source %v", ErrBadConfig, m.Destination, err)
			}
		}
	}
	return &spec, nil
}

// IsBind reports whether m is a bind mount, the only kind whose source is a host path.
func IsBind(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

func validate(s *specs.Spec) error {
	switch {
	case s.Version == "":
		return errors.New("ociVersion is missing")
	case s.Root == nil || s.Root.Path == "":
		return errors.New("root.path is missing")
	case s.Process == nil:
		return errors.New("process is missing")
	case len(s.Process.Args) == 0:
		return errors.New("process.args must not be empty")
	case s.Process.Cwd == "" || !filepath.IsAbs(s.Process.Cwd):
		return fmt.Errorf("process.cwd %q must be an absolute path", s.Process.Cwd)
	}
	for _, rl := range s.Process.Rlimits {
		if _, ok := Rlimits[rl.Type]; !ok {
			return fmt.Errorf("wrong rlimit value: %s", rl.Type)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mount destination %q must be an absolute path", m.Destination)
		}
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if _, ok := nsTypes[ns.Type]; !ok {
				return fmt.Errorf("unknown namespace type %q", ns.Type)
			}
		}
		return validateUserNamespace(s.Linux)
	}
	return nil
}

// validateUserNamespace checks the uid and gid mappings against the user namespace: a new
// one (no path) needs both, and both must map the namespace's root, which sets the container
// up (as runc's setup becomes it); mappings without a user namespace mean nothing.
func validateUserNamespace(l *specs.Linux) error {
	var userns *specs.LinuxNamespace
	for i, ns := range l.Namespaces {
		if ns.Type == specs.UserNamespace {
			userns = &l.Namespaces[i]
		}
	}
	switch {
	case userns == nil && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0):
		return errors.New("user namespace mappings specified, but the user namespace is not in linux.namespaces")
	case userns == nil, userns.Path != "" && len(l.UIDMappings) == 0 && len(l.GIDMappings) == 0:
		return nil
	case len(l.UIDMappings) == 0:
		return errors.New("user namespace enabled, but linux.uidMappings is empty")
	case len(l.GIDMappings) == 0:
		return errors.New("user namespace enabled, but linux.gidMappings is empty")
	case !mapsRoot(l.UIDMappings):
		return errors.New("linux.uidMappings must map the user namespace's uid 0")
	case !mapsRoot(l.GIDMappings):
		return errors.New("linux.gidMappings must map the user namespace's gid 0")
	}
	return nil
}

func mapsRoot(m []specs.LinuxIDMapping) bool {
	for _, e := range m {
		if e.ContainerID == 0 && e.Size > 0 {
			return true
		}
	}
	return false
}

// nsTypes are the clone flags NS_GET_NSTYPE reports for each namespace type.
var nsTypes = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// CheckNamespacePaths returns an ErrBadConfig error unless every namespace path names a
// namespace of its type, as the spec requires of a runtime (runc fails on setns). Create
// calls it; a path may be gone later. Only the network namespace is joined (by the monitor);
// the others are the guest kernel's and cannot be a host one, but a wrong path is still an
// error in the config, not something to ignore.
func CheckNamespacePaths(s *specs.Spec) error {
	if s.Linux == nil {
		return nil
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%w: %s namespace path %s: %v", ErrBadConfig, ns.Type, ns.Path, err)
		}
		typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
		unix.Close(fd)
		if err != nil || typ != nsTypes[ns.Type] {
			return fmt.Errorf("%w: %s namespace path %s is not a %s namespace", ErrBadConfig, ns.Type, ns.Path, ns.Type)
		}
	}
	return nil
}

// validateHooks checks what the spec requires of every hook: an absolute path and a timeout,
// if any, above zero.
func validateHooks(h *specs.Hooks) error {
	for _, kind := range []HookKind{Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop} {
		for i, hook := range kind.Of(h) {
			switch {
			case !filepath.IsAbs(hook.Path):
				return fmt.Errorf("hooks.%s[%d]: path %q must be absolute", kind, i, hook.Path)
			case hook.Timeout != nil && *hook.Timeout <= 0:
				return fmt.Errorf("hooks.%s[%d]: timeout %d must be greater than zero", kind, i, *hook.Timeout)
			}
		}
	}
	return nil
}
