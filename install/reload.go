package install

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// DockerPidFile is where dockerd writes its pid unless told otherwise.
const DockerPidFile = "/var/run/docker.pid"

// ReloadDocker sends SIGHUP to the dockerd whose pid is in pidFile, which makes it reread
// daemon.json: the "runtimes" key is one dockerd reloads without a restart. It returns what
// it did, for the user; no running dockerd is not an error.
func ReloadDocker(pidFile string) (string, error) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return "dockerd is not running: it reads the runtime when it starts", nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return "", fmt.Errorf("%s: not a pid: %q", pidFile, data)
	}
	// Only a dockerd: a stale pid file may name an unrelated process by now.
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		return "dockerd is not running: it reads the runtime when it starts", nil
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return "", fmt.Errorf("reload dockerd (pid %d): %w", pid, err)
	}
	return fmt.Sprintf("dockerd (pid %d) reloaded its configuration", pid), nil
}

// RestartContainerd restarts containerd if systemd runs it, since containerd reads its
// runtimes only when it starts (running containers survive: their shims are separate
// processes). Otherwise it says what the user has to do.
func RestartContainerd() (string, error) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		if exec.Command("systemctl", "is-active", "--quiet", "containerd").Run() == nil {
			if out, err := exec.Command("systemctl", "restart", "containerd").CombinedOutput(); err != nil {
				return "", fmt.Errorf("systemctl restart containerd: %v: %s", err, out)
			}
			return "containerd restarted (systemctl restart containerd)", nil
		}
	}
	if pids, _ := pidsOf("containerd"); len(pids) > 0 {
		return fmt.Sprintf("containerd is running (pid %v) but not under systemd: restart it to load the change", pids), nil
	}
	return "containerd is not running: it reads the runtime when it starts", nil
}

// pidsOf lists the processes whose command name is comm.
func pidsOf(comm string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if c, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(c)) == comm {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
