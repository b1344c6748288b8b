package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/runuml/runuml/bench/benchrt"
)

// tput holds one runtime's end-to-end rates in MB/s (10^6 bytes per second), boot included.
type tput struct {
	rt          *benchrt.Runtime
	in, out     []float64
	inT, outT   dist // wall time of each run
	inOK, outOK bool // every byte count was right
}

// measureThroughput pipes size bytes into `run` of `wc -c` (host -> container) and reads
// `run` of `head -c SIZE /dev/zero` (container -> host), runs times per runtime, interleaved.
// The whole `run` is timed, so the container's start and teardown are part of the rate.
func measureThroughput(b *benchrt.Bundle, rts []*benchrt.Runtime, size int64, runs int) ([]tput, error) {
	res := make([]tput, len(rts))
	for i, rt := range rts {
		res[i] = tput{rt: rt, inOK: true, outOK: true}
	}
	if err := b.Write("wc", "-c"); err != nil {
		return nil, err
	}
	err := series(rts, runs, func(i int, rt *benchrt.Runtime) error {
		el, ok, err := stdinRun(b, rt, size)
		if err != nil {
			return err
		}
		res[i].inT, res[i].in = append(res[i].inT, el), append(res[i].in, rate(size, el))
		res[i].inOK = res[i].inOK && ok
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := b.Write("head", "-c", strconv.FormatInt(size, 10), "/dev/zero"); err != nil {
		return nil, err
	}
	err = series(rts, runs, func(i int, rt *benchrt.Runtime) error {
		el, ok, err := stdoutRun(b, rt, size)
		if err != nil {
			return err
		}
		res[i].outT, res[i].out = append(res[i].outT, el), append(res[i].out, rate(size, el))
		res[i].outOK = res[i].outOK && ok
		return nil
	})
	return res, err
}

// series runs one measurement runs times per runtime, interleaved; a failed try is retried
// (benchrt.Runtime.Attempt) and only the successful one records.
func series(rts []*benchrt.Runtime, runs int, measure func(i int, rt *benchrt.Runtime) error) error {
	for range runs {
		for i, rt := range rts {
			if err := rt.Attempt(func() error { return measure(i, rt) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func rate(size int64, el time.Duration) float64 { return float64(size) / el.Seconds() / 1e6 }

// timeoutFor allows 1 MB/s plus a minute: far slower than any runtime should be.
func timeoutFor(size int64) time.Duration { return time.Minute + time.Duration(size/1e6)*time.Second }

// stdinRun writes size bytes of random data into the container's stdin and checks that
// `wc -c` counted all of them.
func stdinRun(b *benchrt.Bundle, rt *benchrt.Runtime, size int64) (time.Duration, bool, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return 0, false, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return 0, false, err
	}
	// Zeros, as `head -c N /dev/zero |` gives: busybox wc counts words and lines even for -c,
	// and on random bytes that alone takes twice as long (runc: 966 vs 488 ms for 100 MiB),
	// which would measure wc rather than the runtime. That every byte value passes unchanged is
	// the integration tests' job (TestStdinRoundTrip sends random bytes through cat).
	block := make([]byte, 1<<20)
	wrote := make(chan error, 1)
	go func() {
		defer inW.Close()
		for left := size; left > 0; {
			n, err := inW.Write(block[:min(left, int64(len(block)))])
			left -= int64(n)
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	var out bytes.Buffer
	read := make(chan error, 1)
	go func() { _, err := io.Copy(&out, outR); outR.Close(); read <- err }()
	el, err := run(rt, b, timeoutFor(size), inR, outW)
	werr, rerr := <-wrote, <-read
	if err != nil {
		return el, false, err
	}
	if werr != nil || rerr != nil {
		return el, false, fmt.Errorf("%s stdin: write: %v, read: %v", rt.Name, werr, rerr)
	}
	got := strings.TrimSpace(out.String())
	if got != strconv.FormatInt(size, 10) {
		fmt.Fprintf(os.Stderr, "%s stdin: wc -c counted %q, sent %d\n", rt.Name, got, size)
		return el, false, nil
	}
	return el, true, nil
}

// stdoutRun reads the container's stdout to EOF, counting bytes and checking they are zeros.
func stdoutRun(b *benchrt.Bundle, rt *benchrt.Runtime, size int64) (time.Duration, bool, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, false, err
	}
	type count struct {
		n, nonzero int64
		err        error
	}
	read := make(chan count, 1)
	go func() {
		var c count
		buf, zeros := make([]byte, 1<<20), make([]byte, 1<<20)
		for {
			n, err := outR.Read(buf)
			c.n += int64(n)
			// bytes.Equal is memcmp: the check must not slow the reader down.
			if !bytes.Equal(buf[:n], zeros[:n]) {
				for _, x := range buf[:n] {
					if x != 0 {
						c.nonzero++
					}
				}
			}
			if err != nil {
				if err != io.EOF {
					c.err = err
				}
				break
			}
		}
		outR.Close()
		read <- c
	}()
	el, err := run(rt, b, timeoutFor(size), nil, outW)
	c := <-read
	if err != nil {
		return el, false, err
	}
	if c.err != nil {
		return el, false, fmt.Errorf("%s stdout: %w", rt.Name, c.err)
	}
	if c.n != size || c.nonzero != 0 {
		fmt.Fprintf(os.Stderr, "%s stdout: got %d bytes (%d not zero), want %d zeros\n", rt.Name, c.n, c.nonzero, size)
		return el, false, nil
	}
	return el, true, nil
}
