package main

import (
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/container"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container; in the foreground, wait for it and delete it",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container runs"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, bundleFlags...),
	Action: func(c *cli.Context) error {
		id, err := idArg(c, 1)
		if err != nil {
			return err
		}
		o := options(c)
		sio := consoleStdio(c)
		var term *container.Terminal
		if sio.ConsoleSocket == "" && !c.Bool("detach") {
			// As runc run: the container's terminal is runuml's own.
			if term, err = container.NewTerminal(c.String("bundle")); err != nil {
				return err
			}
			if term != nil {
				defer term.Close()
				sio.ConsoleSocket = term.Socket()
			}
		}
		monitor, err := container.Create(o, id, c.String("bundle"), sio)
		if err != nil {
			return err
		}
		if term != nil {
			if err := term.Attach(); err != nil {
				container.Delete(o, id, true)
				return err
			}
		}
		// Signals to runuml are the container's, as with runc run.
		sigs := make(chan os.Signal, 16)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
		go func() {
			for s := range sigs {
				container.Signal(o, id, s.(unix.Signal), false)
			}
		}()
		if err := container.Start(o, id); err != nil {
			container.Delete(o, id, true)
			return err
		}
		if err := writePidFile(c.String("pid-file"), monitor.Process.Pid); err != nil {
			container.Delete(o, id, true)
			return err
		}
		if c.Bool("detach") {
			return nil
		}
		monitor.Wait()
		if !c.Bool("keep") {
			container.Delete(o, id, true)
		}
		return exitStatus(monitor.ProcessState.ExitCode())
	},
}

// exitStatus makes runuml exit with a container's status without reporting an error.
type exitStatus int

func (e exitStatus) Error() string { return "" }

func stdio() container.Stdio { return container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// consoleStdio is stdio with the command's --console-socket.
func consoleStdio(c *cli.Context) container.Stdio {
	s := stdio()
	s.ConsoleSocket = c.String("console-socket")
	return s
}
