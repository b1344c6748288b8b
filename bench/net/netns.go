package main

import (
	"fmt"
	"os/exec"
	"strings"
)

// netns is a network namespace made with `ip netns` for one container: eth0 inside with
// 10.98.N.2/24 and a default route, a veth to the host whose host end has 10.98.N.1/24.
type netns struct {
	name, host, hostIP, guestIP string
}

func newNetns(n int) (*netns, error) {
	n %= 250
	ns := &netns{name: fmt.Sprintf("runuml-bn%d", n), host: fmt.Sprintf("rubn%d", n),
		hostIP: fmt.Sprintf("10.98.%d.1", n), guestIP: fmt.Sprintf("10.98.%d.2", n)}
	ns.remove() // left over from a run that was killed
	for _, args := range [][]string{
		{"netns", "add", ns.name},
		{"link", "add", ns.host, "type", "veth", "peer", "name", "eth0", "netns", ns.name},
		{"addr", "add", ns.hostIP + "/24", "dev", ns.host},
		{"link", "set", ns.host, "up"},
		{"-n", ns.name, "addr", "add", ns.guestIP + "/24", "dev", "eth0"},
		{"-n", ns.name, "link", "set", "eth0", "up"},
		{"-n", ns.name, "link", "set", "lo", "up"},
		{"-n", ns.name, "route", "add", "default", "via", ns.hostIP},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return ns, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return ns, nil
}

// path is the namespace's file, for the spec.
func (ns *netns) path() string { return "/var/run/netns/" + ns.name }

// remove deletes the namespace and the veth (deleting one end deletes both). Each may be
// gone already; it reports only a namespace that is still there after.
func (ns *netns) remove() error {
	exec.Command("ip", "link", "del", ns.host).Run()
	exec.Command("ip", "netns", "del", ns.name).Run()
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ns.name {
			return fmt.Errorf("network namespace %s left behind", ns.name)
		}
	}
	return nil
}
