package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// memResult is the host memory of one idle container: PSS summed over the pid-file process
// and all its descendants (for runuml: monitor, jail/kernel and the kernel's helpers; for
// runc and crun: the container's process alone, as nothing of the runtime stays behind).
type memResult struct {
	rt    *ociRuntime
	pssKB []int
	procs int
}

// measureMemory starts `sleep 1000` detached, lets it settle, sums PSS and deletes it.
func measureMemory(b *bundle, rts []*ociRuntime, runs int, settle time.Duration, work string) ([]memResult, error) {
	if err := b.set("sleep", "1000"); err != nil {
		return nil, err
	}
	res := make([]memResult, len(rts))
	for range runs {
		for i, rt := range rts {
			res[i].rt = rt
			var kb, procs int
			err := rt.attempt(func() (err error) {
				kb, procs, err = idleMemory(b, rt, settle, work)
				return err
			})
			if err != nil {
				return nil, err
			}
			res[i].pssKB = append(res[i].pssKB, kb)
			res[i].procs = procs
		}
	}
	return res, nil
}

func idleMemory(b *bundle, rt *ociRuntime, settle time.Duration, work string) (int, int, error) {
	id := rt.newID()
	pidFile := filepath.Join(work, id+".pid")
	defer os.Remove(pidFile)
	// Deleted whatever happens: a detached container outlives us otherwise.
	defer rt.forceDelete(id)
	if _, err := rt.call(time.Minute, nil, nil, "run", "--detach", "--pid-file", pidFile, "--bundle", b.dir, id); err != nil {
		return 0, 0, err
	}
	time.Sleep(settle)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, 0, fmt.Errorf("%s pid file: %w", rt.name, err)
	}
	pids := append([]int{pid}, descendants(pid)...)
	total := 0
	for _, p := range pids {
		kb, err := pss(p)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: pid %d: %w", rt.name, p, err)
		}
		total += kb
	}
	return total, len(pids), nil
}

// descendants walks the ppid links of every process in /proc.
func descendants(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		kids := children[queue[0]]
		out = append(out, kids...)
		queue = append(queue, kids...)
	}
	slices.Sort(out)
	return out
}

// pss returns the process's proportional set size in kB.
func pss(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Pss:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no Pss in smaps_rollup")
}
