package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
	"github.com/runuml/runuml/oci"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a container and everything it holds on the host",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"},
	},
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		err = container.Delete(options(c), id, c.Bool("force"))
		if c.Bool("force") && errors.Is(err, oci.ErrNotExist) {
			return nil // runc: delete --force of an unknown container succeeds
		}
		return err
	},
}
