package guest

import "github.com/runuml/runuml/oci"

// runHooks runs the container's hooks of kinds, in order, at a point of create: the state
// they get says "creating" and carries the monitor's pid, the container's pid for its
// callers. All of them run on the host, in the monitor's namespaces:
//   - prestart and createRuntime before the guest boots. Docker's network hook finds the
//     container's network namespace as /proc/PID/ns/net and sets it up; what it puts there
//     is in place when the guest is wired to it.
//   - createContainer once the agent reports the container ready. The spec runs it in the
//     container's namespaces; those are the guest kernel's, which host programs cannot enter.
func (m *Monitor) runHooks(kinds ...oci.HookKind) error {
	for _, kind := range kinds {
		if err := m.st.RunHooks(kind, oci.Creating); err != nil {
			return err
		}
	}
	return nil
}
