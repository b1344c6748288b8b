package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/oci"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json in the bundle directory, as runc spec does",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory"},
		&cli.BoolFlag{Name: "rootless", Usage: "accepted for runc compatibility: the default spec runs rootless as it is"},
	},
	Action: func(c *cli.Context) error {
		path := filepath.Join(c.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return errors.New("File " + path + " exists. Remove it first")
		}
		data, err := json.MarshalIndent(oci.Example(), "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, append(data, '\n'), 0o666)
	},
}

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print the OCI features runuml supports, as JSON",
	Action: func(c *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(oci.Features())
	},
}
