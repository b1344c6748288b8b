package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// serverPort is where tcpbench serves in the container.
const serverPort = 5201

// serverRead is the size of the server's reads (-server-read).
var serverRead = 1 << 20

// result holds one runtime's rates in Gbit/s (10^9 bits per second).
type result struct {
	rt      *ociRuntime
	in, out []float64
}

// measure starts `tcpbench serve` detached in a container in ns, waits until it accepts,
// and times one transfer each way with the host's tcpbench client; the container is deleted
// whatever happens.
func measure(b *bundle, rt *ociRuntime, ns *netns, d time.Duration, work string) (in, out float64, err error) {
	if err := b.set(ns.path(), rt.annotations, "/bin/tcpbench", "serve", "-listen", fmt.Sprintf(":%d", serverPort),
		"-read", strconv.Itoa(serverRead)); err != nil {
		return 0, 0, err
	}
	id := rt.NewID()
	pidFile := filepath.Join(work, id+".pid")
	defer os.Remove(pidFile)
	defer rt.ForceDelete(id)
	if _, err := rt.Call(time.Minute, nil, nil, "run", "--detach", "--pid-file", pidFile, "--bundle", b.Dir, id); err != nil {
		return 0, 0, err
	}
	addr := net.JoinHostPort(ns.guestIP, strconv.Itoa(serverPort))
	if err := waitListening(addr, 30*time.Second); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", rt.Name, err)
	}
	if in, err = transfer(b, "send", addr, d); err != nil {
		return 0, 0, fmt.Errorf("%s: host → container: %w", rt.Name, err)
	}
	if out, err = transfer(b, "recv", addr, d); err != nil {
		return 0, 0, fmt.Errorf("%s: container → host: %w", rt.Name, err)
	}
	return in, out, nil
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tcpbench in the container not listening on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// transfer runs the host's tcpbench client (send or recv) and returns its rate in Gbit/s.
func transfer(b *bundle, mode, addr string, d time.Duration) (float64, error) {
	cmd := exec.Command(b.tcpbench, mode, "-connect", addr, "-seconds", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return 0, err
	}
	var r struct {
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, fmt.Errorf("tcpbench output %q: %w", data, err)
	}
	if r.Seconds <= 0 || r.Bytes == 0 {
		return 0, fmt.Errorf("tcpbench moved %d bytes in %gs", r.Bytes, r.Seconds)
	}
	return float64(r.Bytes) * 8 / r.Seconds / 1e9, nil
}
