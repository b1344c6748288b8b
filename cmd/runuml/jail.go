package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/hostfs"
)

// jailCommand is the hidden verb the monitor starts in new namespaces: it builds the jail
// described in STATEDIR/jail.json and becomes the guest kernel.
var jailCommand = &cli.Command{
	Name:      "jail",
	Hidden:    true,
	ArgsUsage: "<state-dir>",
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return fmt.Errorf("jail: expected a state directory")
		}
		// CPU affinity is per thread and must be set on the thread that execs the kernel.
		runtime.LockOSThread()
		j, err := hostfs.LoadJail(c.Args().First())
		if err != nil {
			return err
		}
		return j.Exec()
	},
}
