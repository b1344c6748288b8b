package proto

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	big := bytes.Repeat([]byte{0, 1, 0xff, '\n', '\r'}, MaxPayload/5+10) // crosses MaxPayload
	w.Send(Hello, 0, HelloMsg{Version: Version})
	w.Write(Stdout, 3, []byte("hello\n"))
	w.Write(Stdin, 0, big)
	w.Send(Exit, 0, ExitMsg{Status: 137})
	w.Send(Ready, 0, nil)

	r := NewReader(&buf)
	f, _ := r.Read()
	var h HelloMsg
	if f.Type != Hello || f.Decode(&h) != nil || h.Version != Version {
		t.Fatalf("hello: %+v", f)
	}
	if f, _ = r.Read(); f.Type != Stdout || f.Proc != 3 || string(f.Payload) != "hello\n" {
		t.Fatalf("stdout: %+v", f)
	}
	var got []byte
	for len(got) < len(big) {
		f, err := r.Read()
		if err != nil || f.Type != Stdin {
			t.Fatalf("stdin chunk: %v %v", f.Type, err)
		}
		got = append(got, f.Payload...)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("stdin bytes differ")
	}
	var e ExitMsg
	if f, _ = r.Read(); f.Decode(&e) != nil || e.Status != 137 {
		t.Fatalf("exit: %+v", f)
	}
	if f, _ = r.Read(); f.Type != Ready || len(f.Payload) != 0 {
		t.Fatalf("ready: %+v", f)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestBadFrames(t *testing.T) {
	for name, tc := range map[string]struct {
		data string
		err  string
	}{
		"unknown type": {"\x63\x00\x00\x00\x00\x00\x00\x00\x00", "unknown frame type"},
		"zero type":    {"\x00\x00\x00\x00\x00\x00\x00\x00\x00", "unknown frame type"},
		"huge payload": {"\x01\x00\x00\x00\x00\x7f\xff\xff\xff", "exceeds"},
		"short body":   {"\x07\x00\x00\x00\x00\x00\x00\x00\x05ab", "unexpected EOF"},
		"short header": {"\x07\x00", "unexpected EOF"},
	} {
		_, err := NewReader(strings.NewReader(tc.data)).Read()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", name, err, tc.err)
		}
	}
}

// realFrames returns the frames of a container's life as the two sides send them, one
// byte string per frame: the fuzzer's seeds.
func realFrames() [][]byte {
	var out [][]byte
	add := func(send func(w *Writer)) {
		var buf bytes.Buffer
		send(NewWriter(&buf))
		out = append(out, buf.Bytes())
	}
	add(func(w *Writer) { w.Send(Hello, 0, HelloMsg{Version: Version}) })
	add(func(w *Writer) { w.Send(Ready, 0, nil) })
	add(func(w *Writer) { w.Send(Fail, 0, ErrorMsg{Message: "exec: \"nope\": executable file not found"}) })
	add(func(w *Writer) { w.Send(Start, 0, nil) })
	add(func(w *Writer) { w.Send(Started, 2, nil) })
	add(func(w *Writer) { w.Send(Signal, 0, SignalMsg{Signal: 9, All: true}) })
	add(func(w *Writer) { w.Write(Stdin, 0, []byte("input\n")) })
	add(func(w *Writer) { w.Send(StdinClose, 0, nil) })
	add(func(w *Writer) { w.Send(StdinAck, 0, AckMsg{Bytes: 6}) })
	add(func(w *Writer) { w.Write(Stdout, 0, []byte("hello\n")) })
	add(func(w *Writer) { w.Write(Stderr, 1, []byte{0, 0xff, '\r', '\n'}) })
	add(func(w *Writer) { w.Send(Exit, 0, ExitMsg{Status: 137}) })
	add(func(w *Writer) {
		w.Send(Exec, 3, ExecMsg{Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"A=b"}}})
	})
	add(func(w *Writer) { w.Send(Ps, 0, nil) })
	add(func(w *Writer) { w.Send(PsResult, 0, PsMsg{Processes: []Process{{Pid: 1, Cmd: "sleep 100"}}}) })
	add(func(w *Writer) { w.Send(Resize, 0, ResizeMsg{Rows: 24, Cols: 80}) })
	add(func(w *Writer) { w.Write(DNS, 7, []byte{0x12, 0x34, 1, 0, 0, 1}) })
	add(func(w *Writer) { w.Write(DNSAnswer, 7, []byte{0x12, 0x34, 0x81, 0x80}) })
	return out
}

// FuzzReader: whatever a guest sends (a container that controls its guest kernel can write
// anything to the line), the host's decoder returns frames of known types with at most
// MaxPayload bytes, or an error; it never panics. The payloads are decoded as the monitor
// decodes them.
func FuzzReader(f *testing.F) {
	frames := realFrames()
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add(bytes.Join(frames, nil))                        // a whole conversation
	f.Add([]byte("\x0c\x00\x00\x00\x00\x00\x10\x00\x00")) // a payload that never comes
	f.Add([]byte("\x13\x00\x00\x00\x00\x00\x00\x00\x00")) // one past the last type
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for {
			f, err := r.Read()
			if err != nil {
				return
			}
			if f.Type == 0 || f.Type > lastType {
				t.Fatalf("accepted frame type %d", f.Type)
			}
			if len(f.Payload) > MaxPayload {
				t.Fatal("payload beyond MaxPayload")
			}
			if v, ok := controlMsgs[f.Type]; ok {
				f.Decode(v())
			}
		}
	})
}

// controlMsgs makes the payload struct of each control frame.
var controlMsgs = map[Type]func() any{
	Hello: func() any { return &HelloMsg{} }, Fail: func() any { return &ErrorMsg{} },
	Signal: func() any { return &SignalMsg{} }, StdinAck: func() any { return &AckMsg{} },
	Exit: func() any { return &ExitMsg{} }, Exec: func() any { return &ExecMsg{} },
	PsResult: func() any { return &PsMsg{} }, Resize: func() any { return &ResizeMsg{} },
}

// TestReaderAllocation checks what a lying header costs the host: a length beyond
// MaxPayload is refused before anything is allocated, and a frame whose payload never comes
// costs at most MaxPayload.
func TestReaderAllocation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		limit uint64
	}{
		{"4 GiB claimed", "\x0a\x00\x00\x00\x00\xff\xff\xff\xff", 128 << 10},
		{"MaxPayload+1 claimed", "\x0a\x00\x00\x00\x00\x00\x10\x00\x01", 128 << 10},
		{"MaxPayload claimed, 3 bytes sent", "\x0a\x00\x00\x00\x00\x00\x10\x00\x00abc", MaxPayload + 128<<10},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := NewReader(strings.NewReader(tc.data)).Read()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		// The reader's own 64 KiB buffer is part of the allowance.
		if got := after.TotalAlloc - before.TotalAlloc; got > tc.limit {
			t.Errorf("%s: allocated %d bytes, want at most %d", tc.name, got, tc.limit)
		}
	}
}
