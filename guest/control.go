package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/oci"
)

// The monitor answers short-lived runuml calls on a unix socket in the state dir: one JSON
// Request, one JSON Response per connection.
const controlSocket = "control.sock"

// Op names a request to the monitor.
type Op string

const (
	// OpStart starts the created container's process.
	OpStart Op = "start"
	// OpSignal relays a signal to the container (Request.Signal, Request.All).
	OpSignal Op = "signal"
	// OpExec runs Request.Process in the container. After the request the connection carries
	// guest/proto frames for that process both ways (process id 0 on this connection):
	// Started or Fail first, then output and stdin, and Exit last.
	OpExec Op = "exec"
	// OpPs lists the container's processes (Response.Processes).
	OpPs Op = "ps"
	// OpPause freezes the whole guest; OpResume thaws it.
	OpPause  Op = "pause"
	OpResume Op = "resume"
)

// Request is a call to the monitor.
type Request struct {
	Op      Op             `json:"op"`
	Signal  int            `json:"signal,omitempty"`
	All     bool           `json:"all,omitempty"`
	Process *specs.Process `json:"process,omitempty"`
}

// Response is the monitor's answer; Error is empty on success.
type Response struct {
	Error     string          `json:"error,omitempty"`
	Processes []proto.Process `json:"processes,omitempty"`
}

// ErrNoMonitor means the monitor did not answer: it has exited, so the container is stopped.
var ErrNoMonitor = errors.New("monitor not reachable")

// callTimeout bounds every call, so a stuck guest never hangs a CLI call.
const callTimeout = 15 * time.Second

// Call sends req to the monitor of the container whose state dir is dir and returns its
// answer.
func Call(dir string, req Request) (Response, error) {
	var resp Response
	conn, err := net.DialTimeout("unix", filepath.Join(dir, controlSocket), callTimeout)
	if err != nil {
		return resp, fmt.Errorf("%w: %v", ErrNoMonitor, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(callTimeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return resp, fmt.Errorf("%w: %v", ErrNoMonitor, err)
	}
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return resp, fmt.Errorf("%w: %v", ErrNoMonitor, err)
	}
	if resp.Error == "" {
		return resp, nil
	}
	for _, e := range []error{oci.ErrNotRunning, oci.ErrNotPaused} {
		if resp.Error == e.Error() {
			return resp, e
		}
	}
	return resp, errors.New(resp.Error)
}
