package main

import (
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start the process of a created container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		return container.Start(options(c), id)
	},
}
