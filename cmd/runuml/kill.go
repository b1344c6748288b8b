package main

import (
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
	"github.com/runuml/runuml/oci"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's process",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
	},
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 2)
		if err != nil {
			return err
		}
		name := "SIGTERM"
		if c.NArg() == 2 {
			name = c.Args().Get(1)
		}
		sig, err := oci.ParseSignal(name)
		if err != nil {
			return err
		}
		return container.Signal(options(c), id, sig, c.Bool("all"))
	},
}
