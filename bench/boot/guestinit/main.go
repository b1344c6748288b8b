// Command guestinit is the PID 1 of the boot benchmark's UML guests. It is
// built static (CGO_ENABLED=0) and copied to /init of a hostfs root.
//
// The mode comes from the kernel command line: an unknown "bench=MODE"
// parameter reaches init as the environment variable bench. Every mode talks
// to the host over /dev/ttyS1 (ssl1=fd:3), writes the guest's exit status to
// /proc/exitcode and powers off; PID 1 must never exit (UML would abort).
//
// Run on the host with -native, it runs the same syscall benchmark natively.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	native := flag.Bool("native", false, "run the syscall benchmark on the host and print JSON")
	truePath := flag.String("true", "/bin/true", "program run by the fork+exec benchmark")
	flag.Parse()
	if *native {
		res := runSyscallBench(*truePath)
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			os.Exit(1)
		}
		return
	}
	status := 0
	if err := guest(); err != nil {
		fmt.Fprintln(os.Stderr, "guestinit:", err)
		status = 1
	}
	powerOff(status)
}

// guest runs the mode asked for on the kernel command line.
func guest() error {
	// /dev is the kernel's devtmpfs; ttyS1 appears there.
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil && err != unix.EBUSY {
		return fmt.Errorf("mount /dev: %w", err)
	}
	tty, err := openRaw("/dev/ttyS1")
	if err != nil {
		return err
	}
	// The first byte tells the host that init is running.
	if _, err := tty.Write([]byte{'R'}); err != nil {
		return err
	}
	switch mode := os.Getenv("bench"); mode {
	case "", "boot":
		return nil
	case "syscall":
		return json.NewEncoder(tty).Encode(runSyscallBench("/bin/true"))
	case "chan":
		n, err := strconv.ParseInt(os.Getenv("chanbytes"), 10, 64)
		if err != nil {
			return fmt.Errorf("chanbytes: %w", err)
		}
		return chanSink(tty, n)
	default:
		return fmt.Errorf("unknown bench mode %q", mode)
	}
}

// openRaw opens a tty line and makes it a transparent byte pipe: no echo,
// no line editing, no signals, and no \n -> \r\n on output (-opost).
func openRaw(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("tcgets %s: %w", path, err)
	}
	// cfmakeraw(3)
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("tcsets %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// chanSink reads n bytes from the host, then reports count, sha256 and the
// guest-side time as one line.
func chanSink(tty *os.File, n int64) error {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	start := time.Now()
	got, err := io.CopyBuffer(h, io.LimitReader(tty, n), buf)
	el := time.Since(start)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(tty, "%d %s %d\n", got, hex.EncodeToString(h.Sum(nil)), el.Nanoseconds())
	return err
}

// powerOff sets the UML process's exit status and halts the guest. It never
// returns: if init returned, UML would abort with status 134.
func powerOff(status int) {
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	_ = os.WriteFile("/proc/exitcode", []byte(strconv.Itoa(status)), 0)
	unix.Sync()
	for {
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		time.Sleep(time.Second)
	}
}
