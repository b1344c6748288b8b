package agent

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/runuml/runuml/guest/proto"
)

// listProcesses returns the processes in the pid namespace of p, numbered as that namespace
// numbers them.
func listProcesses(p *process) []proto.Process {
	type entry struct {
		nsPid, ppid, uid int
		cmd              string
	}
	entries, _ := os.ReadDir("/proc")
	byPid := map[int]entry{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns != p.pidNS {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var en entry
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			switch k {
			case "NSpid": // the last is the pid in the container's namespace
				en.nsPid, _ = strconv.Atoi(f[len(f)-1])
			case "PPid":
				en.ppid, _ = strconv.Atoi(f[0])
			case "Uid":
				en.uid, _ = strconv.Atoi(f[0])
			}
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		en.cmd = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		byPid[pid] = en
	}
	out := make([]proto.Process, 0, len(byPid))
	for _, en := range byPid {
		// A parent outside the container (the agent) shows as 0, as in the container's view.
		out = append(out, proto.Process{Pid: en.nsPid, PPid: byPid[en.ppid].nsPid, UID: en.uid, Cmd: en.cmd})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}
