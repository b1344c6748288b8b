package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print the state of a container as JSON",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		st, err := container.Load(options(c), id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st.OCI())
	},
}
