package main

import (
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/guest"
)

// monitorCommand is the hidden verb create starts: the long-lived process that owns one
// guest, whose pid is the container's pid. Its stdio is the container's; fd 3 receives "ok"
// once the container is created.
var monitorCommand = &cli.Command{
	Name:      "monitor",
	Hidden:    true,
	ArgsUsage: "<container-id>",
	Flags:     []cli.Flag{&cli.StringFlag{Name: "console-socket"}, &cli.BoolFlag{Name: "own-userns"}},
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		o := options(c)
		if c.String("log") == "" {
			// Never log into the container's stderr.
			f, err := os.OpenFile(filepath.Join(o.Store.Dir(id), "monitor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			logrus.SetOutput(f)
		}
		m := &guest.Monitor{Store: o.Store, ID: id, Kernel: o.Kernel, Init: guest.FindInit(),
			ConsoleSocket: c.String("console-socket"), OwnUserns: c.Bool("own-userns")}
		if status := m.Run(os.NewFile(3, "ready")); status != 0 {
			return exitStatus(status)
		}
		return nil
	},
}
