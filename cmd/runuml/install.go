package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/install"
)

// registerFlags are the flags install and uninstall share.
var registerFlags = []cli.Flag{
	&cli.StringFlag{Name: "config-file", Value: install.DockerConfig, Usage: "docker's daemon.json"},
	&cli.StringFlag{Name: "containerd-config", Value: install.ContainerdConfig, Usage: "containerd's config.toml"},
	&cli.StringFlag{Name: "runtime", Value: "uml", Usage: "the runtime's name for docker and containerd"},
	&cli.BoolFlag{Name: "docker", Value: true, Usage: "register with docker (--docker=false: do not)"},
	&cli.BoolFlag{Name: "containerd", Value: true, Usage: "register with containerd (--containerd=false: do not)"},
	&cli.BoolFlag{Name: "reload", Value: true, Usage: "reload a running dockerd, restart a containerd run by systemd"},
}

var installCommand = &cli.Command{
	Name:      "install",
	Usage:     "register runuml as a runtime with docker and containerd",
	ArgsUsage: "[-- runtime args for docker]",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "path", Usage: "the runuml binary to register (default: this one)"},
	}, registerFlags...),
	Action: func(c *cli.Context) error {
		path := c.String("path")
		if path == "" {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			path = exe
		}
		path, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		name := c.String("runtime")
		if c.Bool("docker") {
			rt := install.Runtime{Path: path, Args: c.Args().Slice()}
			if err := install.AddDockerRuntime(c.String("config-file"), name, rt); err != nil {
				return err
			}
			fmt.Printf("docker: runtime %q (%s) in %s\n", name, path, c.String("config-file"))
		}
		if c.Bool("containerd") {
			if c.NArg() > 0 {
				fmt.Println("containerd: the runc shim passes no runtime args; they are for docker only")
			}
			if err := install.AddContainerdRuntime(c.String("containerd-config"), name, path); err != nil {
				return err
			}
			fmt.Printf("containerd: runtime handler %q (%s) in %s\n", name, path, c.String("containerd-config"))
		}
		return reload(c)
	},
}

var uninstallCommand = &cli.Command{
	Name:  "uninstall",
	Usage: "remove what runuml install added to docker's and containerd's configuration",
	Flags: registerFlags,
	Action: func(c *cli.Context) error {
		name := c.String("runtime")
		if c.Bool("docker") {
			if err := install.RemoveDockerRuntime(c.String("config-file"), name); err != nil {
				return err
			}
			fmt.Printf("docker: runtime %q removed from %s\n", name, c.String("config-file"))
		}
		if c.Bool("containerd") {
			if err := install.RemoveContainerdRuntime(c.String("containerd-config"), name); err != nil {
				return err
			}
			fmt.Printf("containerd: runtime handler %q removed from %s\n", name, c.String("containerd-config"))
		}
		return reload(c)
	},
}

// reload makes running daemons see the change, as far as --reload and the daemons allow.
func reload(c *cli.Context) error {
	if !c.Bool("reload") {
		return nil
	}
	if c.Bool("docker") {
		msg, err := install.ReloadDocker(install.DockerPidFile)
		if err != nil {
			return err
		}
		fmt.Println("docker:", msg)
	}
	if c.Bool("containerd") {
		msg, err := install.RestartContainerd()
		if err != nil {
			return err
		}
		fmt.Println("containerd:", msg)
	}
	return nil
}
