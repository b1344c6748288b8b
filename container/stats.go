package container

import (
	"fmt"
	"time"

	runc "github.com/containerd/go-runc"
)

// Stats returns the resource use of container id's guest, read from its host cgroups, as
// runc's `events --stats` reports it.
func Stats(o Options, id string) (*runc.Stats, error) {
	_, c, err := liveCgroups(o, id)
	if err != nil {
		return nil, err
	}
	s, err := c.Stats()
	if err != nil {
		return nil, fmt.Errorf("container %s: stats: %w", id, err)
	}
	return s, nil
}

// Events hands emit a stats event for container id every interval, the first at once, and
// an oom event whenever the host's OOM killer acts in its guest's group, until the container
// stops. It fails at once if the container is not running.
func Events(o Options, id string, interval time.Duration, emit func(*runc.Event) error) error {
	st, c, err := liveCgroups(o, id)
	if err != nil {
		return err
	}
	ooms := c.OOMs()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s, err := c.Stats()
		if err != nil {
			if !st.Alive() {
				return nil // stopped while we read
			}
			return fmt.Errorf("container %s: stats: %w", id, err)
		}
		if err := emit(&runc.Event{Type: "stats", ID: id, Stats: s}); err != nil {
			return err
		}
		for waiting := true; waiting; {
			select {
			case <-tick.C:
				waiting = false
			case _, ok := <-ooms:
				if !ok {
					ooms = nil // the group is gone or cannot be watched
					continue
				}
				if err := emit(&runc.Event{Type: "oom", ID: id}); err != nil {
					return err
				}
			}
		}
		if !st.Alive() {
			return nil
		}
	}
}
