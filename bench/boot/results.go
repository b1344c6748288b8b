package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sysResult mirrors guestinit.Result.
type sysResult struct {
	GetppidNs  float64 `json:"getppidNs"`
	ForkWaitNs float64 `json:"forkWaitNs"`
	ForkExecNs float64 `json:"forkExecNs"`
	CPUs       int     `json:"cpus"`
	Err        string  `json:"err"`
}

// syscallTable runs the same benchmark natively (pinned to the same CPU)
// and in each guest, and reports the host processes under a guest that run
// with a seccomp filter: the sign that UML's seccomp mode is in use.
func syscallTable(e *env, rows []kernel) error {
	type line struct {
		name    string
		r       sysResult
		seccomp string
	}
	var lines []line

	cmd := exec.Command(filepath.Join(e.root, "init"), "-native", "-true", filepath.Join(e.root, "bin/true"))
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := startPinned(cmd, e.cpu); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("native syscall bench: %w", err)
	}
	var nat sysResult
	if err := json.Unmarshal(out.Bytes(), &nat); err != nil {
		return fmt.Errorf("native syscall bench: %w", err)
	}
	lines = append(lines, line{"native (host)", nat, "-"})

	for _, k := range rows {
		g, err := e.boot(k, "syscall")
		if err != nil {
			return err
		}
		sc := seccompProcs(g.cmd.Process.Pid)
		js, rerr := g.rd.ReadBytes('\n')
		if _, err := g.wait(120 * time.Second); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		if rerr != nil {
			return fmt.Errorf("%s: reading result: %w", k.name, rerr)
		}
		var r sysResult
		if err := json.Unmarshal(js, &r); err != nil {
			return fmt.Errorf("%s: result %q: %w", k.name, js, err)
		}
		lines = append(lines, line{k.name, r, strconv.Itoa(sc)})
	}
	fmt.Println("## Syscalls (medians; same static binary; fork is a real fork, /bin/true is static busybox)")
	fmt.Println()
	fmt.Println("| where | getppid | fork + wait | fork + exec /bin/true | CPUs seen | host procs with Seccomp: 2 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, l := range lines {
		if l.r.Err != "" {
			fmt.Printf("| %s | error: %s | | | | |\n", l.name, l.r.Err)
			continue
		}
		fmt.Printf("| %s | %s | %s | %s | %d | %s |\n", l.name, us(l.r.GetppidNs), us(l.r.ForkWaitNs), us(l.r.ForkExecNs), l.r.CPUs, l.seccomp)
	}
	fmt.Println()
	return nil
}

// chanTable pushes n pseudo-random bytes from the host into /dev/ttyS1 of
// each guest; init reads them in raw mode and answers with count, sha256 and
// its own elapsed time over the same line. The host end stays open until
// the guest has powered off.
func chanTable(e *env, rows []kernel, n int64) error {
	fmt.Printf("## Channel host → guest (ssl1=fd:3 socketpair → /dev/ttyS1 raw, %d MiB)\n\n", n>>20)
	fmt.Println("| kernel | host MB/s | guest MB/s | sha256 |")
	fmt.Println("|---|---|---|---|")
	for _, k := range rows {
		g, err := e.boot(k, "chan", "chanbytes="+strconv.FormatInt(n, 10))
		if err != nil {
			return err
		}
		want := make(chan string, 1)
		start := time.Now()
		go func() {
			h := sha256.New()
			src := io.LimitReader(rand.NewChaCha8([32]byte{1}), n)
			_, _ = io.Copy(io.MultiWriter(g.conn, h), src)
			want <- hex.EncodeToString(h.Sum(nil))
		}()
		resp, rerr := g.rd.ReadString('\n')
		el := time.Since(start)
		wantSum := <-want
		if _, err := g.wait(60 * time.Second); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		if rerr != nil {
			return fmt.Errorf("%s: reading result: %w", k.name, rerr)
		}
		f := strings.Fields(resp)
		if len(f) != 3 {
			return fmt.Errorf("%s: bad result line %q", k.name, resp)
		}
		got, _ := strconv.ParseInt(f[0], 10, 64)
		gns, _ := strconv.ParseFloat(f[2], 64)
		ok := "ok"
		if got != n || f[1] != wantSum {
			ok = fmt.Sprintf("MISMATCH (%d bytes)", got)
		}
		fmt.Printf("| %s | %.1f | %.1f | %s |\n", k.name, mbps(n, el.Seconds()), mbps(n, gns/1e9), ok)
	}
	fmt.Println()
	return nil
}

func mbps(n int64, s float64) float64 { return float64(n) / 1e6 / s }

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func minDur(d []time.Duration) time.Duration { return slices.Min(d) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func us(ns float64) string {
	if ns >= 1e6 {
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f µs", ns/1e3)
}
