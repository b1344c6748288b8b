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
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/oci"
)

// The monitor answers short-lived runuml calls on a unix socket in the state dir: one JSON
// Request, one JSON Response per connection.
const controlSocket = "control.sock"

// socketPath returns a path of the control socket in state dir that fits a unix socket
// address (107 bytes): docker's state dirs (/var/run/docker/runtime-runc/moby/ + a 64-byte
// id) do not. A longer one is reached through /proc/self/fd of an O_PATH descriptor of the
// dir; release closes it once the socket is bound or connected.
func socketPath(dir string) (path string, release func(), err error) {
	path = filepath.Join(dir, controlSocket)
	if len(path) < len(unix.RawSockaddrUnix{}.Path) {
		return path, func() {}, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, controlSocket), func() { unix.Close(fd) }, nil
}

// listenControl makes the monitor's control socket in dir. The listener does not remove it
// on close (its path may be a /proc/self/fd one, gone by then); the state dir goes with it.
func listenControl(dir string) (net.Listener, error) {
	path, release, err := socketPath(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// dialControl connects to the monitor's control socket in dir.
func dialControl(dir string, timeout time.Duration) (net.Conn, error) {
	path, release, err := socketPath(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	return net.DialTimeout("unix", path, timeout)
}

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
	// OpPs lists the container's processes (Response.Processes) and the host processes that
	// carry them (Response.HostPids).
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
	HostPids  []int           `json:"hostPids,omitempty"`
}

// ErrNoMonitor means the monitor did not answer: it has exited, so the container is stopped.
var ErrNoMonitor = errors.New("monitor not reachable")

// callTimeout bounds every call, so a stuck guest never hangs a CLI call.
const callTimeout = 15 * time.Second

// Call sends req to the monitor of the container whose state dir is dir and returns its
// answer.
func Call(dir string, req Request) (Response, error) {
	var resp Response
	conn, err := dialControl(dir, callTimeout)
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
