package main

import (
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

// bundleFlags are the flags create and run share; those runc has that mean nothing for a UML
// guest are accepted and ignored.
var bundleFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the OCI bundle"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the container's pid to"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket to receive the pty master on"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "accepted for runc compatibility"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "accepted for runc compatibility"},
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container in a new UML guest",
	ArgsUsage: "<container-id>",
	Flags:     bundleFlags,
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		o := options(c)
		cmd, err := container.Create(o, id, c.String("bundle"), consoleStdio(c))
		if err != nil {
			return err
		}
		// Written last: containerd takes the pid file as the end of create.
		if err := writePidFile(c.String("pid-file"), cmd.Process.Pid); err != nil {
			container.Delete(o, id, true)
			return err
		}
		return nil
	},
}
