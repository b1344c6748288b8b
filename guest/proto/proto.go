// Package proto is the one definition of what crosses the line between the runuml monitor on
// the host and the agent (runuml-init) in the guest.
//
// The line is a UML serial device backed by a host socketpair (ssl1=fd:3 on the kernel
// command line, /dev/ttyS1 in the guest, put in raw mode by the agent). It stays open for the
// guest's whole life, because EOF on the host side hangs the tty up and loses data; so every
// stream, including end of input, is an explicit frame.
//
// A frame is a 9-byte header (type, process id, payload length; big endian) and the payload.
// Data frames carry raw bytes; control frames carry one JSON-encoded struct, named beside its
// type below. Process 0 is the container's own process; exec'd processes get ids from 1 up.
package proto

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Version is sent in Hello; the host refuses an agent that speaks another version.
const Version = 2

// MaxPayload bounds a frame's payload so a misbehaving guest cannot make the host allocate
// without limit.
const MaxPayload = 1 << 20

// Type names a frame.
type Type uint8

// The frames, in the order a container's life uses them.
const (
	// Hello (guest→host, first frame): the agent is up and the line is raw. Payload Hello.
	// The host sends nothing before it, since a tty not yet raw echoes input back.
	Hello Type = iota + 1
	// Ready (guest→host): the container is set up and waits for Start. No payload.
	Ready
	// Fail (guest→host): setting up the container failed; the guest powers off. Payload Error.
	Fail
	// Start (host→guest): run the container's process. No payload.
	Start
	// Started (guest→host): the process runs. No payload.
	Started
	// Signal (host→guest): send a signal. Payload Signal.
	Signal
	// Stdin (host→guest): bytes for the process's standard input.
	Stdin
	// StdinClose (host→guest): end of the process's standard input.
	StdinClose
	// StdinAck (guest→host): this many more stdin bytes were written to the process (or
	// dropped, once it stopped reading); the host keeps at most StdinWindow bytes
	// unacknowledged, so a process that does not read cannot fill the guest's memory or block
	// control frames behind its input. The guest may gather up to StdinAckBytes before it
	// acknowledges them. Payload Ack.
	StdinAck
	// Stdout and Stderr (guest→host): bytes the process wrote.
	Stdout
	Stderr
	// Exit (guest→host): the process ended; all its output was sent before. Payload Exit.
	Exit
	// Exec (host→guest): run another process in the running container, under the frame's
	// process id; the guest answers Started or Fail for that id. Payload ExecMsg.
	Exec
	// Ps (host→guest): list the container's processes. No payload.
	Ps
	// PsResult (guest→host): the answer to Ps. Payload PsMsg.
	PsResult
	// Resize (host→guest): the window size of a process's terminal changed on the host.
	// Payload ResizeMsg.
	Resize
	// DNS (guest→host): a DNS query (the UDP message) a container sent to 127.0.0.11, which
	// is docker's embedded DNS server in the container's network namespace, unreachable from
	// the guest's own loopback. The frame's process id is the query's id, not a process's.
	DNS
	// DNSAnswer (host→guest): the server's answer to the DNS query of the same id.
	DNSAnswer
)

// lastType is the highest frame type a reader accepts.
const lastType = DNSAnswer

// StdinWindow is the most stdin bytes in flight to one process.
const StdinWindow = 2 << 20

// StdinAckBytes is the most stdin bytes the guest holds back from a StdinAck; it
// acknowledges in batches because every frame is a guest syscall or two (an ack per 64 KiB
// frame cost more than the data). It must stay below StdinWindow minus the largest Stdin
// frame, or the host could wait for an ack the guest never sends.
const StdinAckBytes = StdinWindow / 4

// HelloMsg is the payload of Hello.
type HelloMsg struct {
	Version int `json:"version"`
}

// ErrorMsg is the payload of Fail.
type ErrorMsg struct {
	Message string `json:"message"`
}

// SignalMsg is the payload of Signal.
type SignalMsg struct {
	Signal int  `json:"signal"`
	All    bool `json:"all,omitempty"` // every process of the container, not just its init
}

// AckMsg is the payload of StdinAck.
type AckMsg struct {
	Bytes int `json:"bytes"`
}

// ExitMsg is the payload of Exit: the exit code, or 128+signal for a signal death, as the
// runc shim reports it.
type ExitMsg struct {
	Status int `json:"status"`
}

// ExecMsg is the payload of Exec: the process as config.json's "process" describes it.
type ExecMsg struct {
	Process *specs.Process `json:"process"`
}

// PsMsg is the payload of PsResult.
type PsMsg struct {
	Processes []Process `json:"processes"`
}

// Process is one process of the container, with pids as the container sees them.
type Process struct {
	Pid  int    `json:"pid"`
	PPid int    `json:"ppid"`
	UID  int    `json:"uid"`
	Cmd  string `json:"cmd"`
}

// ResizeMsg is the payload of Resize.
type ResizeMsg struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// Frame is one message on the line.
type Frame struct {
	Type    Type
	Proc    uint32
	Payload []byte
}

// Decode unmarshals a control frame's JSON payload into v.
func (f Frame) Decode(v any) error {
	if err := json.Unmarshal(f.Payload, v); err != nil {
		return fmt.Errorf("frame type %d: %w", f.Type, err)
	}
	return nil
}

const headerLen = 9

// Reader reads frames from the line.
type Reader struct {
	r   *bufio.Reader
	h   [headerLen]byte
	buf []byte // the payload of the last frame, reused: data frames come by the thousand
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Read returns the next frame. Its payload is only valid until the next call: a caller that
// keeps it longer copies it.
func (r *Reader) Read() (Frame, error) {
	h := r.h[:]
	if _, err := io.ReadFull(r.r, h); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[5:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("frame type %d: payload of %d bytes exceeds %d", h[0], n, MaxPayload)
	}
	if h[0] == 0 || Type(h[0]) > lastType {
		return Frame{}, fmt.Errorf("unknown frame type %d", h[0])
	}
	if int(n) > cap(r.buf) {
		r.buf = make([]byte, n)
	}
	f := Frame{Type: Type(h[0]), Proc: binary.BigEndian.Uint32(h[1:5]), Payload: r.buf[:n]}
	_, err := io.ReadFull(r.r, f.Payload)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return f, err
}

// Writer writes frames to the line; it is safe for concurrent use and writes each frame whole.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte // header and payload of one frame, reused, so a frame is one write
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sends one frame with a raw payload, split into several if it exceeds MaxPayload.
func (w *Writer) Write(t Type, proc uint32, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for first := true; first || len(payload) > 0; first = false {
		chunk := payload
		if len(chunk) > MaxPayload {
			chunk = chunk[:MaxPayload]
		}
		payload = payload[len(chunk):]
		if headerLen+len(chunk) > cap(w.buf) {
			w.buf = make([]byte, headerLen+len(chunk))
		}
		buf := w.buf[:headerLen+len(chunk)]
		buf[0] = byte(t)
		binary.BigEndian.PutUint32(buf[1:5], proc)
		binary.BigEndian.PutUint32(buf[5:9], uint32(len(chunk)))
		copy(buf[headerLen:], chunk)
		if _, err := w.w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// Send sends a control frame whose payload is v encoded as JSON (nil: no payload).
func (w *Writer) Send(t Type, proc uint32, v any) error {
	var payload []byte
	if v != nil {
		var err error
		if payload, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return w.Write(t, proc, payload)
}

// MakeRaw puts the tty fd in raw mode: no echo, no line editing, no signals, and no output
// processing (a tty turns "\n" into "\r\n" by default), so all 256 byte values pass. The
// line is raw, and so is the host end of a process's terminal, since the guest's own tty
// already did the terminal's processing.
func MakeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
