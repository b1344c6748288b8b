package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/runuml/runuml/container"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run another process in a running container",
	ArgsUsage: "<container-id> [command [args...]]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "process.json to run"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gid"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket to receive the pty master on"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process runs"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's pid to"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		// Accepted for runc compatibility; not applied in the guest yet.
		&cli.IntFlag{Name: "preserve-fds"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}},
		&cli.StringFlag{Name: "process-label"},
		&cli.StringFlag{Name: "apparmor"},
		&cli.BoolFlag{Name: "ignore-paused"},
		&cli.StringFlag{Name: "cgroup"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return fmt.Errorf("exec: expected a container id")
		}
		id := c.Args().First()
		o := options(c)
		p, err := execProcess(c, o, id)
		if err != nil {
			return err
		}
		if c.Bool("detach") {
			return detachExec(c, p)
		}
		notify := func() {}
		if fd, err := strconv.Atoi(os.Getenv(container.ReadyFDEnv)); err == nil {
			ready := os.NewFile(uintptr(fd), "ready")
			notify = func() { fmt.Fprintln(ready, "ok"); ready.Close() }
			defer func() { ready.Close() }()
		}
		status, err := container.Exec(o, id, p, consoleStdio(c), notify)
		if err != nil {
			return err
		}
		return exitStatus(status)
	},
}

// execProcess makes the process to run: process.json, or the container's own process with
// the command line's arguments and overrides.
func execProcess(c *cli.Context, o container.Options, id string) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("process %s: %w", path, err)
		}
		return &p, nil
	}
	p, err := container.ProcessTemplate(o, id)
	if err != nil {
		return nil, err
	}
	p.Args = c.Args().Slice()[1:]
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("exec: no command given")
	}
	p.Env = append(p.Env, c.StringSlice("env")...)
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if u := c.String("user"); u != "" {
		uid, gid, hasGID := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("exec: --user %q: want uid[:gid]", u)
		}
		p.User.UID, p.User.GID = uint32(n), 0
		if hasGID {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("exec: --user %q: want uid[:gid]", u)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range c.Int64Slice("additional-gids") {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	p.Terminal = c.Bool("tty")
	p.NoNewPrivileges = p.NoNewPrivileges || c.Bool("no-new-privs")
	return p, nil
}

// detachExec starts a proxy carrying the process's stdio and records its pid.
func detachExec(c *cli.Context, p *specs.Process) error {
	f, err := os.CreateTemp("", "runuml-process-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(p); err != nil {
		return err
	}
	f.Close()
	args := append(options(c).MonitorFn, "exec", "--process", f.Name())
	if s := c.String("console-socket"); s != "" {
		args = append(args, "--console-socket", s)
	}
	args = append(args, c.Args().First())
	sio := stdio()
	if c.String("console-socket") != "" {
		sio = container.Stdio{} // the terminal is the process's stdio, not ours
	}
	pid, err := container.StartProxy(args, sio)
	if err != nil {
		return err
	}
	return writePidFile(c.String("pid-file"), pid)
}
