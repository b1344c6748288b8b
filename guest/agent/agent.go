// Package agent is runuml-init, PID 1 inside the guest. It speaks guest/proto with the monitor
// over the serial line, sets up the container in its own namespaces, runs its process, relays
// its stdio and signals, and powers the guest off with the container's exit status. It never
// exits: when a UML guest's init exits, UML aborts.
package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/pageout"
	"github.com/runuml/runuml/guest/proto"
	"github.com/runuml/runuml/hostfs"
	"github.com/runuml/runuml/netplug"
)

// pageOutDelay is how long after the container's start the agent gives back its code pages.
const pageOutDelay = 2 * time.Second

// LinePath is the guest device of the control line (ssl1 on the kernel command line).
const LinePath = "/dev/ttyS1"

// Main is the entry point of runuml-init.
func Main() {
	if len(os.Args) > 1 && os.Args[1] == stage2Arg {
		stage2() // never returns
	}
	if len(os.Args) > 2 && os.Args[1] == execArg {
		execStage(os.Args[2]) // never returns
	}
	err := serve()
	logf("runuml-init: %v", err)
	powerOff(255)
}

type agent struct {
	w        *proto.Writer
	dns      *dnsRelay // nil without a network device
	init     *process
	spec     *specs.Spec // the container's
	specLine []byte      // spec as one line of JSON
	mu       sync.Mutex
	procs    map[uint32]*process // exec'd processes by id
	// starting is held from the Start frame until Started (or Fail) is sent, so a process
	// that exits at once cannot have its Exit reach the host before its Started.
	starting sync.Mutex
}

func serve() error {
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if _, err := os.Stat(LinePath); err != nil {
		if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, ""); err != nil {
			return fmt.Errorf("mount /dev: %w", err)
		}
	}
	line, in, err := openLine(LinePath)
	if err != nil {
		return err
	}
	a := &agent{w: proto.NewWriter(line), procs: map[uint32]*process{}}
	if err := a.w.Send(proto.Hello, 0, proto.HelloMsg{Version: proto.Version}); err != nil {
		return err
	}
	// Reap from the start: the container's setup process is our child too.
	children := make(chan os.Signal, 1)
	signal.Notify(children, unix.SIGCHLD)

	spec, specLine, err := loadConfig()
	if err == nil {
		err = mountRootImage(spec)
	}
	var devices bool
	if err == nil {
		devices, err = setupNetwork()
	}
	if err == nil && devices {
		a.dns, err = startDNSRelay(a.w)
	}
	if err == nil {
		a.spec, a.specLine = spec, specLine
		a.init, err = createContainer(a.w, spec, specLine)
	}
	if err != nil {
		a.w.Send(proto.Fail, 0, proto.ErrorMsg{Message: err.Error()})
		powerOff(1)
	}
	if err := a.w.Send(proto.Ready, 0, nil); err != nil {
		return err
	}
	go a.reap(children)
	return a.readLine(in)
}

// setupNetwork configures the guest's network, which is the container's: the guest's own
// network namespace is the container's, since the container's network namespace on the host
// holds only the monitor and the devices carried into the guest.
// It reports whether the guest has network devices.
func setupNetwork() (bool, error) {
	var cfg netplug.Config
	data, err := os.ReadFile(hostfs.NetworkPath)
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("network config: %w", err)
	}
	return len(cfg.Interfaces) > 0, netplug.Configure(&cfg)
}

// loadConfig reads the guest's config.json: the spec, and the same as one line of JSON, which
// the setup children get on their socketpairs.
func loadConfig() (*specs.Spec, []byte, error) {
	data, err := os.ReadFile(hostfs.ConfigPath)
	if err != nil {
		return nil, nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, nil, err
	}
	var line bytes.Buffer
	if err := json.Compact(&line, data); err != nil {
		return nil, nil, err
	}
	b := line.Bytes()
	return &spec, b[:len(b):len(b)], nil // appends copy it
}

// readLine dispatches the monitor's frames until the line fails.
func (a *agent) readLine(line io.Reader) error {
	r := proto.NewReader(line)
	for {
		f, err := r.Read()
		if err != nil {
			return fmt.Errorf("control line: %w", err)
		}
		if f.Type == proto.DNSAnswer {
			if a.dns != nil {
				a.dns.answer(f.Proc, f.Payload)
			}
			continue
		}
		p := a.init
		if f.Proc != 0 {
			if f.Type == proto.Exec {
				f.Payload = append([]byte(nil), f.Payload...) // the reader reuses it
				go a.exec(f)
				continue
			}
			a.mu.Lock()
			p = a.procs[f.Proc]
			a.mu.Unlock()
			if p == nil {
				continue
			}
		}
		switch f.Type {
		case proto.Start:
			a.starting.Lock()
			if err := p.start(); err != nil {
				a.w.Send(proto.Fail, 0, proto.ErrorMsg{Message: err.Error()})
			} else {
				a.w.Send(proto.Started, 0, nil)
				// Once the container runs, the agent mostly waits: the guest page cache
				// need not hold the code it ran to get there (freed guest pages go back to
				// the host: kernel patch 0011).
				if f.Proc == 0 {
					time.AfterFunc(pageOutDelay, func() { pageout.Self() })
				}
			}
			a.starting.Unlock()
		case proto.Signal:
			var m proto.SignalMsg
			if err := f.Decode(&m); err == nil {
				p.signal(unix.Signal(m.Signal), m.All)
			}
		case proto.Ps:
			a.w.Send(proto.PsResult, 0, proto.PsMsg{Processes: listProcesses(a.init)})
		case proto.Stdin:
			p.stdin.write(f.Payload)
		case proto.StdinClose:
			p.stdin.close()
		case proto.Resize:
			var m proto.ResizeMsg
			if err := f.Decode(&m); err == nil {
				p.resize(m.Rows, m.Cols)
			}
		}
	}
}

// reap collects every child that exits; the container's init ending ends the guest.
func (a *agent) reap(children chan os.Signal) {
	for range children {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == a.init.pid {
				go a.finish(exitStatus(ws))
				continue
			}
			a.mu.Lock()
			for id, p := range a.procs {
				if p.pid == pid {
					delete(a.procs, id)
					go func() {
						p.output.Wait()
						p.closeTTY()
						a.w.Send(proto.Exit, id, proto.ExitMsg{Status: exitStatus(ws)})
					}()
				}
			}
			a.mu.Unlock()
		}
	}
}

// exec runs the process of an Exec frame and answers Started or Fail for its id.
func (a *agent) exec(f proto.Frame) {
	var m proto.ExecMsg
	err := f.Decode(&m)
	if err == nil && m.Process == nil {
		err = fmt.Errorf("exec: no process")
	}
	if err == nil {
		// Registered under the lock the reaper takes, so its exit cannot be missed.
		// Started goes out under the same lock, so it precedes the process's Exit.
		a.mu.Lock()
		defer a.mu.Unlock()
		var p *process
		p, err = execProcess(a.w, a.init, a.spec, a.specLine, f.Proc, m.Process)
		if err == nil {
			a.procs[f.Proc] = p
			a.w.Send(proto.Started, f.Proc, nil)
			return
		}
	}
	a.w.Send(proto.Fail, f.Proc, proto.ErrorMsg{Message: err.Error()})
}

// finish reports the container's exit once all its output is sent, then powers off.
func (a *agent) finish(status int) {
	unix.Kill(-1, unix.SIGKILL) // whatever the container left behind (all but PID 1)
	a.init.output.Wait()
	a.starting.Lock() // a Started in flight goes first
	a.w.Send(proto.Exit, 0, proto.ExitMsg{Status: status})
	powerOff(status)
}

// exitStatus is the status as a shell and the runc shim report it: the code, or 128+signal.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// openLine opens the serial line and makes it raw: no echo, no line editing, no signals, and
// no output processing (a tty turns "\n" into "\r\n" by default), so all 256 byte values pass.
// It returns the line twice: a blocking file for writes, and a reader of a second,
// non-blocking open of it (rawReader).
//
// A blocking read parks the goroutine in a system call that the data's arrival ends. The
// runtime hands its one P (one guest CPU) to another thread after 20 µs of that and takes
// it back after: ~15 thread switches per 64 KiB of stdin, more guest CPU than the data.
// Writes stay blocking: a non-blocking tty write returns as soon as the host side lags and
// costs more calls for the same bytes.
func openLine(path string) (*os.File, io.Reader, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	line := os.NewFile(uintptr(fd), path)
	if err := proto.MakeRaw(fd); err != nil {
		return nil, nil, fmt.Errorf("%s: raw mode: %w", path, err)
	}
	in, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Exclusive from now on (after our own two opens): no other open of the line, so a
	// container root that can mknod (docker's default capabilities) cannot forge frames, such
	// as an Exit with a status of its choice. Only CAP_SYS_ADMIN (a privileged container)
	// passes.
	if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
		return nil, nil, fmt.Errorf("%s: exclusive: %w", path, err)
	}
	return line, &rawReader{fd: in, name: path}, nil
}

// powerOff ends the guest; UML exits with status (the monitor trusts the Exit frame instead,
// since the container can write /proc/exitcode too).
func powerOff(status int) {
	unix.Sync()
	os.WriteFile("/proc/exitcode", []byte(strconv.Itoa(status)), 0)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// logf writes to the guest console, which the monitor keeps in the state dir's kernel log.
func logf(format string, args ...any) {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		fmt.Fprintf(f, format+"\n", args...)
		f.Close()
	}
}
