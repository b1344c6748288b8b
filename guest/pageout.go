package guest

import (
	"time"

	"github.com/runuml/runuml/guest/pageout"
)

// pageOutDelay is how long after create the monitor gives back the pages of its binary and
// of the kernel's: past the start of a container that is started at once, as `run` and
// docker do, and past the guest's own settling (the agent pages out its code 2 s after start,
// and the guest gives the freed pages back 2 s after that), whose kernel code would otherwise
// fault back in: 6 s left 2.8 MiB of the kernel binary mapped a minute later, 2 s 3.9 MiB.
const pageOutDelay = 6 * time.Second

// pageOutCode asks the host to reclaim the code pages the monitor and the UML kernel process
// touched to boot and start the container: both then mostly wait, so an idle container need
// not keep them resident (7.8 MiB of the kernel binary was mapped, 7.5 of runuml's). Pages
// they need again fault back in (kernel patch 0012 makes the kernel read them back one by
// one, as Self does for the monitor); pages that other processes map (other guests' kernels,
// other monitors) are left alone by the host, so this matters most for a lone container.
func (m *Monitor) pageOutCode() {
	select {
	case <-m.dead:
	default:
		pageout.Process(m.uml.Pid)
	}
	pageout.Self()
}
