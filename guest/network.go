package guest

import (
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/netplug"
)

// Annotations tuning the guest's network devices.
const (
	AnnotationNetDepth = "org.runuml.net.depth" // packets per vector read/write
	AnnotationNetGRO   = "org.runuml.net.gro"   // "false" turns receive offload off
)

// plugNetwork hands the interfaces of the monitor's network namespace (the container's) to
// the guest: it writes the guest's network config and returns the kernel arguments for its
// devices and, with firstFD positive, their sockets, which the kernel must get as fds from
// firstFD on (see netplug.Options.FD). It runs after the create hooks, which is when docker and CNI have set them up.
func (m *Monitor) plugNetwork(spec *specs.Spec, firstFD int) ([]string, []*os.File, error) {
	o := netplug.Options{Depth: 128, GRO: true, FD: firstFD}
	if v, err := strconv.Atoi(spec.Annotations[AnnotationNetDepth]); err == nil && v > 0 {
		o.Depth = v
	}
	if spec.Annotations[AnnotationNetGRO] == "false" {
		o.GRO = false
	}
	cfg, args, socks, err := netplug.Take(o)
	if err != nil {
		return nil, nil, err
	}
	m.net = cfg
	if len(args) > 0 {
		m.log.WithField("devices", args).Debug("network plugged")
	}
	return args, socks, writeJSON(filepath.Join(m.dir, guestNetwork), cfg)
}

// unplugNetwork gives the network namespace its addresses back once the guest is gone.
func (m *Monitor) unplugNetwork() {
	if m.net != nil {
		if err := netplug.Restore(m.net); err != nil {
			m.log.WithError(err).Warn("network not restored")
		}
		m.net = nil
	}
}
