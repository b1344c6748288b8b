package container

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/guest"
	"github.com/runuml/runuml/oci"
)

// ProcessTemplate returns the container's own process from its bundle, the base that inline
// `exec` arguments modify, as runc does.
func ProcessTemplate(o Options, id string) (*specs.Process, error) {
	st, err := o.Store.Load(id)
	if err != nil {
		return nil, err
	}
	spec, err := oci.LoadSpec(st.Bundle)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	p := *spec.Process
	p.Terminal = false
	return &p, nil
}

// Exec runs p in running container id with stdio, and returns its exit status. started is
// called once the process runs.
func Exec(o Options, id string, p *specs.Process, stdio Stdio, started func()) (int, error) {
	st, err := o.Store.Load(id)
	if err != nil {
		return 0, err
	}
	if len(p.Args) == 0 {
		return 0, fmt.Errorf("%w: process.args must not be empty", oci.ErrBadConfig)
	}
	if st.Current() != oci.Running {
		return 0, fmt.Errorf("container %s: cannot exec in a %s container: %w", id, st.Current(), oci.ErrNotRunning)
	}
	if stdio.ConsoleSocket != "" && !p.Terminal {
		return 0, checkConsole(false, stdio.ConsoleSocket)
	}
	var tty *os.File
	if p.Terminal {
		var restore func()
		if tty, stdio, restore, err = execTerminal(stdio); err != nil {
			return 0, err
		}
		defer restore()
	}
	status, err := guest.Exec(o.Store.Dir(id), p, stdio.In, stdio.Out, stdio.Err, tty, started)
	if err != nil {
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	return status, nil
}

// StartProxy starts args (a foreground `runuml exec` of the same process) as a detached
// process of its own session that carries the process's stdio and exits with its status, and
// returns once the process runs. Its pid is what `exec --detach --pid-file` records.
func StartProxy(args []string, stdio Stdio) (int, error) {
	cmd, err := startSelf(args, []string{ReadyFDEnv + "=3"}, stdio, 0, "exec failed")
	if err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	return pid, nil
}

// ReadyFDEnv names the fd on which a detached exec proxy reports "ok" once its process runs,
// or why it could not start it.
const ReadyFDEnv = "_RUNUML_EXEC_READY_FD"
