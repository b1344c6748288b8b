// Command tcpbench is the two ends of bench/net's TCP throughput test, static (CGO_ENABLED=0)
// so that the same binary runs on the host and in any container's rootfs.
//
//	tcpbench serve -listen :5201
//	tcpbench send|recv -connect HOST:5201 -seconds 5
//
// The server serves connections until killed. A client's first byte says what the server
// does: 's' (the client sends) makes it discard what arrives, 'r' (the client receives) makes
// it send until the client closes. The client prints what it moved, as one JSON line:
// {"bytes":N,"seconds":S}. For recv, bytes and seconds are counted at the receiving client.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// bufSize is the size of each write and read: large, so that syscalls are few (each costs
// microseconds in a UML guest).
const bufSize = 1 << 20

// Result is the client's output.
type Result struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpbench serve|send|recv [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", ":5201", "address to serve on")
	connect := fs.String("connect", "", "server address")
	seconds := fs.Float64("seconds", 5, "how long the client moves data")
	read := fs.Int("read", bufSize, "serve: bytes per read of what the client sends")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*listen, *read)
	case "send", "recv":
		var r Result
		if r, err = client(*connect, os.Args[1] == "send", time.Duration(*seconds*float64(time.Second))); err == nil {
			err = json.NewEncoder(os.Stdout).Encode(r)
		}
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpbench:", err)
		os.Exit(1)
	}
}

func serve(addr string, read int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go handle(c, read)
	}
}

func handle(c net.Conn, read int) {
	defer c.Close()
	mode := make([]byte, 1)
	if _, err := io.ReadFull(c, mode); err != nil {
		return
	}
	buf := make([]byte, bufSize)
	switch mode[0] {
	case 's':
		// Not io.CopyBuffer(io.Discard, c, buf): that goes through io.Discard's ReadFrom,
		// which reads in 8 KiB chunks whatever buf is (in a UML guest, every syscall costs).
		for {
			if _, err := c.Read(buf[:min(read, len(buf))]); err != nil {
				return
			}
		}
	case 'r':
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}
}

// client moves data for d and returns how much, timed from the first byte moved to the last.
func client(addr string, send bool, d time.Duration) (Result, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	mode := byte('r')
	if send {
		mode = 's'
	}
	if _, err := c.Write([]byte{mode}); err != nil {
		return Result{}, err
	}
	buf := make([]byte, bufSize)
	var n int64
	t0 := time.Now()
	end := t0.Add(d)
	c.SetDeadline(end.Add(10 * time.Second)) // a stalled peer ends the run, not the benchmark
	for time.Now().Before(end) {
		var k int
		if send {
			k, err = c.Write(buf)
		} else {
			k, err = c.Read(buf)
		}
		n += int64(k)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return Result{}, err
		}
	}
	el := time.Since(t0)
	if send {
		// The bytes are counted once the peer has them all: close our side and wait for
		// the server's close, which follows its reading of everything.
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		el = time.Since(t0)
	}
	return Result{Bytes: n, Seconds: el.Seconds()}, nil
}
