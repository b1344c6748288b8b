package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only ids"},
	},
	Action: func(c *cli.Context) error {
		states, err := container.List(options(c))
		if err != nil {
			return err
		}
		switch {
		case c.Bool("quiet"):
			for _, st := range states {
				fmt.Println(st.ID)
			}
		case c.String("format") == "json":
			out := make([]map[string]any, 0, len(states))
			for _, st := range states {
				out = append(out, st.OCI())
			}
			return json.NewEncoder(os.Stdout).Encode(out)
		case c.String("format") == "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, st := range states {
				s := st.OCI()
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, s["pid"], s["status"], st.Bundle, st.Created.Format(time.RFC3339Nano), st.OwnerName())
			}
			return w.Flush()
		default:
			return fmt.Errorf("invalid format %q: use table or json", c.String("format"))
		}
		return nil
	},
}
