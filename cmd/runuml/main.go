// Command runuml is an OCI runtime, a drop-in for runc, that runs every container in its own
// User Mode Linux guest kernel.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/oci"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	app := &cli.App{
		Name:    "runuml",
		Usage:   "run OCI containers in User Mode Linux guests",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "directory for container state (default: " + container.DefaultRoot + ", rootless: $XDG_RUNTIME_DIR/runuml)"},
			&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.StringFlag{Name: "kernel", EnvVars: []string{guest.KernelEnv}, Usage: "guest kernel (default: " + guest.DefaultKernel + ")"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "true, false or auto (rootless unless run as host root): no host cgroups, the guest in a user namespace of the caller's"},
			// runc's callers send it; a systemd cgroupsPath is read as such either way.
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "cgroupsPath may be systemd's slice:prefix:name (accepted either way)"},
			&cli.StringFlag{Name: "criu", Hidden: true},
		},
		Before: before,
		Commands: []*cli.Command{
			createCommand, startCommand, runCommand, stateCommand, killCommand, deleteCommand,
			listCommand, execCommand, psCommand, pauseCommand, resumeCommand, eventsCommand, updateCommand,
			specCommand, featuresCommand, installCommand, uninstallCommand, monitorCommand, jailCommand,
		},
		ExitErrHandler: func(*cli.Context, error) {}, // errors go through fatal
	}
	cli.VersionPrinter = printVersion
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

// fatal is the one error path: the error goes to the log (JSON with --log-format json, which
// containerd's shim reads) and to stderr, and runuml exits 1.
func fatal(err error) {
	var status exitStatus
	if errors.As(err, &status) {
		os.Exit(int(status)) // a container's exit status, not an error of ours
	}
	logrus.Error(err)
	if logrus.StandardLogger().Out != os.Stderr {
		fmt.Fprintln(os.Stderr, "runuml:", err)
	}
	os.Exit(1)
}

// before checks the global flags that options reads (it drops their errors) and sets up
// logging, before any verb runs.
func before(c *cli.Context) error {
	if _, err := container.Rootless(c.String("rootless")); err != nil {
		return err
	}
	if c.Bool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if c.String("log-format") == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{})
	} else if c.String("log-format") != "text" {
		return fmt.Errorf("unknown log format %q", c.String("log-format"))
	}
	if path := c.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return err
		}
		logrus.SetOutput(f)
	}
	return nil
}

// options returns the settings every verb shares.
func options(c *cli.Context) container.Options {
	rootless, _ := container.Rootless(c.String("rootless")) // checked in before
	root, _ := container.StateRoot(c.String("root"))
	fwd := []string{"--root", root, "--rootless", fmt.Sprint(rootless)}
	for _, name := range []string{"log", "log-format", "kernel"} {
		if v := c.String(name); v != "" {
			fwd = append(fwd, "--"+name, v)
		}
	}
	if c.Bool("debug") {
		fwd = append(fwd, "--debug")
	}
	return container.Options{Store: oci.Store{Root: root}, Kernel: c.String("kernel"), MonitorFn: fwd, Rootless: rootless}
}

// idArg returns the container id, the command's only or first argument.
func idArg(c *cli.Context, nargs int) (string, error) {
	if c.NArg() < 1 || c.NArg() > nargs {
		return "", fmt.Errorf("%s: expected %d argument(s), got %d; usage: %s %s", c.Command.Name, nargs, c.NArg(), c.Command.Name, c.Command.ArgsUsage)
	}
	id := c.Args().First()
	return id, oci.CheckID(id)
}

func printVersion(c *cli.Context) {
	fmt.Printf("runuml version %s\n", version)
	k, err := guest.FindKernel(c.String("kernel"))
	if err != nil {
		fmt.Printf("kernel: %v\n", err)
		return
	}
	fmt.Printf("kernel: %s\nkernel version: %s\nmode: %s\n", k.Path, k.HostVersion(), k.Mode())
}

// writePidFile writes pid to path atomically: containerd takes the file's existence as
// the end of create.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprint(pid)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
