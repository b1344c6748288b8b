package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

// Flags of runc update that mean nothing for a guest's host cgroups: accepted, logged.
var updateIgnored = []string{"blkio-weight", "kernel-memory", "kernel-memory-tcp", "cpu-rt-period",
	"cpu-rt-runtime", "cpu-burst", "cpu-idle", "l3-cache-schema", "mem-bw-schema"}

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a container's guest on the host",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON linux.resources from FILE, or - for stdin; other flags are then ignored"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or 512m, 1g; -1: none); not below the guest's RAM"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (-1: unlimited swap)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "cpu-share", Aliases: []string{"cpu-shares"}, Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (µs)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota (µs per period)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "host CPUs the guest may use"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes the guest may use"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "maximum number of the container's processes (-1: none)"},
	}, ignoredFlags(updateIgnored)...),
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}, Pids: &specs.LinuxPids{}}
		if in := c.String("resources"); in != "" {
			f := os.Stdin
			if in != "-" {
				if f, err = os.Open(in); err != nil {
					return err
				}
				defer f.Close()
			}
			if err := json.NewDecoder(f).Decode(r); err != nil {
				return fmt.Errorf("update: --resources: %w", err)
			}
			return container.Update(options(c), id, r)
		}
		for _, name := range updateIgnored {
			if c.IsSet(name) {
				logrus.WithField("id", id).Debugf("update: --%s means nothing for a UML guest; ignored", name)
			}
		}
		r.CPU.Cpus, r.CPU.Mems = c.String("cpuset-cpus"), c.String("cpuset-mems")
		for name, dst := range map[string]**int64{"memory": &r.Memory.Limit, "memory-swap": &r.Memory.Swap,
			"memory-reservation": &r.Memory.Reservation, "cpu-quota": &r.CPU.Quota} {
			if v := c.String(name); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil && name != "cpu-quota" {
					n, err = units.RAMInBytes(v)
				}
				if err != nil {
					return fmt.Errorf("update: invalid value for --%s: %q", name, v)
				}
				*dst = &n
			}
		}
		for name, dst := range map[string]**uint64{"cpu-share": &r.CPU.Shares, "cpu-period": &r.CPU.Period} {
			if v := c.String(name); v != "" {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return fmt.Errorf("update: invalid value for --%s: %q", name, v)
				}
				*dst = &n
			}
		}
		if c.IsSet("pids-limit") {
			n := c.Int64("pids-limit")
			r.Pids.Limit = &n
		}
		return container.Update(options(c), id, r)
	},
}

func ignoredFlags(names []string) []cli.Flag {
	var out []cli.Flag
	for _, n := range names {
		out = append(out, &cli.StringFlag{Name: n, Hidden: true})
	}
	return out
}
