package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Status is a container's lifecycle status, worded as in the OCI runtime spec.
type Status string

// The statuses, as runc reports them.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// State is what runuml records about one container in ROOT/ID/state.json. After create the
// monitor is its only writer.
type State struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Status      Status            `json:"status"`
	Pid         int               `json:"pid"`      // the monitor's pid, 0 until it runs
	PidStart    uint64            `json:"pidStart"` // its start time, so a reused pid is not ours
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	ExitStatus  *int              `json:"exitStatus,omitempty"`
	CPU         int               `json:"cpu"` // the host CPU the guest is pinned to; -1 until chosen
	// Rootless: created by an unprivileged user, so the guest has no host cgroups.
	Rootless bool `json:"rootless,omitempty"`
	// Owner names the user who created the container (runc's list shows it); empty is root.
	Owner string `json:"owner,omitempty"`
	// Hooks are config.json's, kept from create on: the bundle may change or go before delete.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

// Alive reports whether the monitor recorded in st is still the running process.
func (st *State) Alive() bool {
	if st.Pid <= 0 {
		return false
	}
	start, err := ProcStartTime(st.Pid)
	return err == nil && start == st.PidStart
}

// Current returns the status a caller should see: the recorded one while the monitor lives,
// stopped once it is gone.
func (st *State) Current() Status {
	if st.Status == Creating || st.Alive() {
		return st.Status
	}
	return Stopped
}

// OCI returns the state in the JSON shape runc prints for `state` and `list`, which go-runc
// decodes.
func (st *State) OCI() map[string]any {
	pid := st.Pid
	status := st.Current()
	if status == Stopped {
		pid = 0
	}
	return map[string]any{
		"ociVersion":  specs.Version,
		"id":          st.ID,
		"pid":         pid,
		"status":      status,
		"bundle":      st.Bundle,
		"rootfs":      st.Rootfs,
		"created":     st.Created,
		"annotations": st.Annotations,
		"owner":       st.OwnerName(),
	}
}

// OwnerName is the user who created the container, root unless recorded otherwise.
func (st *State) OwnerName() string {
	if st.Owner == "" {
		return "root"
	}
	return st.Owner
}

// Spec returns the OCI runtime-spec state passed to hooks on stdin.
func (st *State) Spec() specs.State {
	return specs.State{Version: specs.Version, ID: st.ID, Status: specs.ContainerState(st.Current()),
		Pid: st.Pid, Bundle: st.Bundle, Annotations: st.Annotations}
}

// RunHooks runs the container's hooks of kind with its state on stdin, the status given
// being the one the lifecycle is at (see RunHooks).
func (st *State) RunHooks(kind HookKind, status Status) error {
	s := st.Spec()
	s.Status = specs.ContainerState(status)
	return RunHooks(kind, kind.Of(st.Hooks), s)
}

// ProcStartTime returns the start time (in clock ticks since boot) of process pid.
func ProcStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	// Field 22 of stat is starttime; fields[0] here is field 3.
	if fields[0] == "Z" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Store is the directory (--root) holding one subdirectory per container.
type Store struct{ Root string }

// Dir is the state directory of container id.
func (s Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// Reserve creates the state directory for a new container, failing with ErrExist if the id
// is taken, and records st.
func (s Store) Reserve(st *State) error {
	if err := CheckID(st.ID); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Root, 0o711); err != nil {
		return err
	}
	if err := os.Mkdir(s.Dir(st.ID), 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("container %s: %w", st.ID, ErrExist)
		}
		return err
	}
	// A full disk fails the first save: the id must not stay taken by an empty dir that
	// neither state nor delete can see.
	if err := s.Save(st); err != nil {
		os.RemoveAll(s.Dir(st.ID))
		return fmt.Errorf("container %s: %w", st.ID, err)
	}
	return nil
}

// Save writes st atomically (temp file and rename).
func (s Store) Save(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := filepath.Join(s.Dir(st.ID), "state.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		os.Remove(tmp) // a partial write on a full disk
		return err
	}
	return os.Rename(tmp, path)
}

// Load reads the state of container id, or returns ErrNotExist.
func (s Store) Load(id string) (*State, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("container %s: corrupt state: %w", id, err)
	}
	return &st, nil
}

// List returns the state of every container in the store, sorted by id.
func (s Store) List() ([]*State, error) {
	entries, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if st, err := s.Load(e.Name()); err == nil {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Remove deletes the state directory of container id.
func (s Store) Remove(id string) error { return os.RemoveAll(s.Dir(id)) }
