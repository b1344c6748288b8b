// Command fakeagent stands in for runuml-init in the fault tests: an agent that misbehaves
// in one way, chosen when it is built (go build -ldflags "-X main.mode=MODE"):
//
//	hang       never speaks: the guest never boots, as far as the monitor can tell
//	exit       exits at once: the guest's init dies and the kernel panics
//	mute       says Hello and Ready, then never answers: a wedged agent
//	noexec     as mute, but starts the container (answers Start): wedged for exec
//	readyexit  says Hello and Ready, then exits: an agent that crashes after create
package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runuml/runuml/guest/proto"
)

var mode = "hang"

func main() {
	switch mode {
	case "hang":
		for {
			time.Sleep(time.Hour)
		}
	case "exit":
		os.Exit(2)
	}
	unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "")
	fd, err := unix.Open("/dev/ttyS1", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		os.Exit(3)
	}
	proto.MakeRaw(fd)
	line := os.NewFile(uintptr(fd), "line")
	w := proto.NewWriter(line)
	w.Send(proto.Hello, 0, proto.HelloMsg{Version: proto.Version})
	w.Send(proto.Ready, 0, nil)
	if mode == "readyexit" {
		time.Sleep(100 * time.Millisecond) // let the frames leave
		os.Exit(4)
	}
	r := proto.NewReader(line)
	for {
		f, err := r.Read()
		if err != nil {
			time.Sleep(time.Hour)
		}
		if mode == "noexec" && f.Type == proto.Start {
			w.Send(proto.Started, 0, nil)
		}
	}
}
