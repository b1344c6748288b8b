package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes in a container, as the guest sees them",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		format := c.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("invalid format %q: use table or json", format)
		}
		procs, hostPids, err := container.Processes(options(c), id)
		if err != nil {
			return err
		}
		if format == "json" {
			// runc prints host pids, which containerd and docker look up on the host.
			return json.NewEncoder(os.Stdout).Encode(hostPids)
		}
		w := tabwriter.NewWriter(os.Stdout, 4, 1, 2, ' ', 0)
		fmt.Fprintln(w, "UID\tPID\tPPID\tCMD")
		for _, p := range procs {
			fmt.Fprintf(w, "%d\t%d\t%d\t%s\n", p.UID, p.Pid, p.PPid, p.Cmd)
		}
		return w.Flush()
	},
}
