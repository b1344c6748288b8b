package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/runuml/runuml/bench/benchrt"
)

// dist is a sample of durations.
type dist []time.Duration

// pct returns the p-th quantile (0..1) by linear interpolation between closest ranks.
func (d dist) pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	x := p * float64(len(s)-1)
	lo := int(math.Floor(x))
	hi := min(lo+1, len(s)-1)
	return s[lo] + time.Duration(float64(s[hi]-s[lo])*(x-float64(lo)))
}

func (d dist) median() time.Duration { return d.pct(0.5) }

// latencyResult holds one runtime's `run` of `true` times.
type latencyResult struct {
	rt    *benchrt.Runtime
	times dist
}

// measureLatency times `run` of `true` runs times per runtime after warmup untimed runs each
// (page cache, first-run costs), interleaved runtime by runtime so that noise of this shared
// machine hits all alike.
func measureLatency(b *benchrt.Bundle, rts []*benchrt.Runtime, runs, warmup int) ([]latencyResult, error) {
	if err := b.Write("true"); err != nil {
		return nil, err
	}
	res := make([]latencyResult, len(rts))
	for i, rt := range rts {
		res[i].rt = rt
	}
	for round := -warmup; round < runs; round++ {
		for i, rt := range rts {
			var el time.Duration
			err := rt.Attempt(func() (err error) {
				el, err = run(rt, b, time.Minute, nil, nil)
				return err
			})
			if err != nil {
				return nil, err
			}
			if round >= 0 {
				res[i].times = append(res[i].times, el)
			}
		}
	}
	return res, nil
}

// phases are the verbs of one lifecycle done one by one, as containerd does them.
type phases struct {
	rt                         *benchrt.Runtime
	create, start, exit, delet dist
}

// measurePhases splits the lifecycle of `true` into create, start, start → exit of the
// pid-file process (for runuml the monitor, which exits once the guest is down; for runc and
// crun the container process), and delete. Interleaved like measureLatency.
func measurePhases(b *benchrt.Bundle, rts []*benchrt.Runtime, runs int, work string) ([]phases, error) {
	if err := b.Write("true"); err != nil {
		return nil, err
	}
	res := make([]phases, len(rts))
	for round := -1; round < runs; round++ {
		for i, rt := range rts {
			res[i].rt = rt
			var p [4]time.Duration
			err := rt.Attempt(func() (err error) {
				p, err = onePhases(b, rt, work)
				return err
			})
			if err != nil {
				return nil, err
			}
			if round >= 0 {
				res[i].create = append(res[i].create, p[0])
				res[i].start = append(res[i].start, p[1])
				res[i].exit = append(res[i].exit, p[2])
				res[i].delet = append(res[i].delet, p[3])
			}
		}
	}
	return res, nil
}

func onePhases(b *benchrt.Bundle, rt *benchrt.Runtime, work string) ([4]time.Duration, error) {
	var p [4]time.Duration
	id := rt.NewID()
	pidFile := filepath.Join(work, id+".pid")
	defer os.Remove(pidFile)
	fail := func(err error) ([4]time.Duration, error) {
		rt.ForceDelete(id)
		return p, err
	}
	var err error
	if p[0], err = rt.Call(time.Minute, nil, nil, "create", "--bundle", b.Dir, "--pid-file", pidFile, id); err != nil {
		return fail(err)
	}
	t0 := time.Now()
	if p[1], err = rt.Call(time.Minute, nil, nil, "start", id); err != nil {
		return fail(err)
	}
	if err := waitPidFile(pidFile, time.Minute); err != nil {
		return fail(fmt.Errorf("%s: %w", rt.Name, err))
	}
	p[2] = time.Since(t0)
	if p[3], err = rt.Call(time.Minute, nil, nil, "delete", id); err != nil {
		return fail(err)
	}
	return p, nil
}
