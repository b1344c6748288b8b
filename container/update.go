package container

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/oci"
)

// Update applies r to container id's host cgroups, as `runc update` does: what r sets
// changes. A memory limit below the guest's RAM is refused; a larger one raises the host
// limit, but the guest keeps the RAM it booted with.
func Update(o Options, id string, r *specs.LinuxResources) error {
	_, c, err := liveCgroups(o, id)
	if err != nil {
		return err
	}
	if err := c.Update(r); err != nil {
		return fmt.Errorf("container %s: update: %w", id, err)
	}
	return nil
}

// liveCgroups returns the state and host cgroups of container id, which must be running,
// paused or created.
func liveCgroups(o Options, id string) (*oci.State, *guest.Cgroups, error) {
	st, err := o.Store.Load(id)
	if err != nil {
		return nil, nil, err
	}
	switch st.Current() {
	case oci.Created, oci.Running, oci.Paused:
	default:
		return nil, nil, fmt.Errorf("container %s: %w", id, oci.ErrNotRunning)
	}
	if st.Rootless {
		return nil, nil, fmt.Errorf("container %s: %w", id, oci.ErrNoCgroups)
	}
	c, err := guest.LoadCgroups(o.Store, id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("container %s: its guest has no host cgroup (this host has no cgroups)", id)
	}
	return st, c, err
}
