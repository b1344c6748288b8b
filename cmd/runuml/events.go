package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	runc "github.com/containerd/go-runc"
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print the resource use of a container's guest as JSON events (runc's format)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
		&cli.BoolFlag{Name: "stats", Usage: "print one stats event and exit"},
	},
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		if c.Duration("interval") <= 0 {
			return fmt.Errorf("events: --interval must be greater than 0")
		}
		enc := json.NewEncoder(os.Stdout)
		if c.Bool("stats") {
			s, err := container.Stats(options(c), id)
			if err != nil {
				return err
			}
			return enc.Encode(&runc.Event{Type: "stats", ID: id, Stats: s})
		}
		return container.Events(options(c), id, c.Duration("interval"), func(e *runc.Event) error {
			return enc.Encode(e)
		})
	},
}
