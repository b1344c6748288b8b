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

	"github.com/runuml/runuml/bench/benchrt"
)

// memResult is the host memory of n idle containers of one runtime: PSS summed over each
// pid-file process and all its descendants (for runuml: monitor, jail/kernel and the
// kernel's helpers; for runc and crun: the container's process alone, as nothing of the
// runtime stays behind). PSS divides a page shared by k processes among them, so the
// binaries' text costs each of n containers 1/n of it.
type memResult struct {
	rt    *benchrt.Runtime
	n     int
	runs  []pssSum // one per run
	procs int      // processes counted in the last run
}

// pssSum is PSS in kB, in total and by kind of page (smaps_rollup's Pss_Anon, Pss_File,
// Pss_Shmem; the guest's RAM file is shmem).
type pssSum struct{ total, anon, file, shmem int }

func (s *pssSum) add(o pssSum) {
	s.total += o.total
	s.anon += o.anon
	s.file += o.file
	s.shmem += o.shmem
}

// median returns the run with the median total.
func (m memResult) median() pssSum {
	s := slices.Clone(m.runs)
	slices.SortFunc(s, func(a, b pssSum) int { return a.total - b.total })
	return s[len(s)/2]
}

// spread returns the smallest and largest total of the runs.
func (m memResult) spread() (lo, hi int) {
	totals := make([]int, len(m.runs))
	for i, r := range m.runs {
		totals[i] = r.total
	}
	return slices.Min(totals), slices.Max(totals)
}

// measureMemory starts, for each count n, n detached `sleep 1000` containers per runtime, lets
// them settle, sums their PSS and deletes them; runs times each, runtimes interleaved.
func measureMemory(b *benchrt.Bundle, rts []*benchrt.Runtime, counts []int, runs int, settle time.Duration, work string) ([]memResult, error) {
	if err := b.Write("sleep", "1000"); err != nil {
		return nil, err
	}
	var res []memResult
	for _, n := range counts {
		first := len(res)
		for _, rt := range rts {
			res = append(res, memResult{rt: rt, n: n})
		}
		for range runs {
			for i, rt := range rts {
				fmt.Fprintf(os.Stderr, "memory: %d idle %s containers ...\n", n, rt.Name)
				sum, procs, err := idleMemory(b, rt, n, settle, work)
				if err != nil {
					return nil, err
				}
				r := &res[first+i]
				r.runs = append(r.runs, sum)
				r.procs = procs
			}
		}
	}
	return res, nil
}

// idleMemory runs n containers detached, one after the other, waits settle and sums the
// PSS of all their processes. All n are deleted whatever happens.
func idleMemory(b *benchrt.Bundle, rt *benchrt.Runtime, n int, settle time.Duration, work string) (pssSum, int, error) {
	var (
		sum  pssSum
		pids []int
		ids  []string
	)
	defer func() {
		for _, id := range ids {
			rt.ForceDelete(id)
			os.Remove(filepath.Join(work, id+".pid"))
		}
	}()
	for range n {
		var pid int
		err := rt.Attempt(func() error {
			id := rt.NewID()
			ids = append(ids, id) // deleted at the end even if this attempt fails
			pidFile := filepath.Join(work, id+".pid")
			if _, err := rt.Call(time.Minute, nil, nil, "run", "--detach", "--pid-file", pidFile, "--bundle", b.Dir, id); err != nil {
				return err
			}
			data, err := os.ReadFile(pidFile)
			if err == nil {
				pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
			}
			if err != nil {
				return fmt.Errorf("%s pid file: %w", rt.Name, err)
			}
			return nil
		})
		if err != nil {
			return sum, 0, err
		}
		pids = append(pids, pid)
	}
	time.Sleep(settle)
	procs := 0
	for _, pid := range pids {
		for _, p := range append([]int{pid}, descendants(pid)...) {
			s, err := pss(p)
			if err != nil {
				return sum, 0, fmt.Errorf("%s: pid %d: %w", rt.Name, p, err)
			}
			sum.add(s)
			procs++
		}
	}
	return sum, procs, nil
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

// pss returns the process's proportional set size in kB, by kind of page.
func pss(pid int) (pssSum, error) {
	var s pssSum
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	fields := map[string]*int{"Pss:": &s.total, "Pss_Anon:": &s.anon, "Pss_File:": &s.file, "Pss_Shmem:": &s.shmem}
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || fields[f[0]] == nil {
			continue
		}
		if *fields[f[0]], err = strconv.Atoi(f[1]); err != nil {
			return s, err
		}
		found = found || f[0] == "Pss:"
	}
	if !found {
		return s, fmt.Errorf("no Pss in smaps_rollup")
	}
	return s, sc.Err()
}
