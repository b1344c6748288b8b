package container

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/oci"
)

// startHooked asks the monitor to start the created container between its startContainer
// hooks and its poststart hooks (create's hooks run in the monitor). They run here, on the
// host: the spec runs startContainer hooks in the container's namespaces, which are the
// guest kernel's. A failing startContainer or poststart hook stops the container and fails
// start, as the spec (1.3) and runc do.
func startHooked(o Options, st *oci.State) error {
	if err := st.RunHooks(oci.StartContainer, oci.Created); err != nil {
		stopMonitor(o, st)
		return fmt.Errorf("container %s: %w", st.ID, err)
	}
	if _, err := call(o, st.ID, guest.Request{Op: guest.OpStart}); err != nil {
		return err
	}
	if err := st.RunHooks(oci.Poststart, oci.Running); err != nil {
		stopMonitor(o, st)
		return fmt.Errorf("container %s: %w", st.ID, err)
	}
	return nil
}

// warnHooks runs hooks whose failure the lifecycle survives, logging it as a warning.
func warnHooks(st *oci.State, kind oci.HookKind, status oci.Status) {
	if err := st.RunHooks(kind, status); err != nil {
		logrus.WithField("id", st.ID).Warn(err)
	}
}
