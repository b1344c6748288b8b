package proto

import (
	"bytes"
	"io"
	"strings"
	"testing"
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

// FuzzReader: whatever a guest sends, the host's decoder returns frames or an error, never
// panics or allocates beyond MaxPayload.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	NewWriter(&buf).Send(Exit, 0, ExitMsg{Status: 3})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for {
			f, err := r.Read()
			if err != nil {
				return
			}
			if len(f.Payload) > MaxPayload {
				t.Fatal("payload beyond MaxPayload")
			}
			var e ExitMsg
			f.Decode(&e)
		}
	})
}
