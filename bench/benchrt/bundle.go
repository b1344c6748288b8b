package benchrt

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Busybox makes dir a busybox-static rootfs: /bin/busybox, a symlink to it for each applet
// (all it has when none are named), and empty /proc, /dev and /sys. Those mount points exist
// in every real image; runc creates missing ones before it makes the root read-only, runuml
// cannot (its rootfs bind is already read-only), so they are made here and every runtime
// measures the same thing.
func Busybox(dir string, applets ...string) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "proc"), filepath.Join(dir, "dev"), filepath.Join(dir, "sys")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		return err
	}
	if len(applets) == 0 {
		list, err := exec.Command(bb, "--list").Output()
		if err != nil {
			return fmt.Errorf("busybox --list: %w", err)
		}
		applets = strings.Fields(string(list))
	}
	for _, applet := range applets {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return err
		}
	}
	return nil
}

// Bundle is one OCI bundle that every runtime of a benchmark shares: a Busybox rootfs and the
// config.json of `runc spec`. Spec is that config.json kept generic, so no field is lost; a
// benchmark edits it per case and writes it with Write.
type Bundle struct {
	Dir  string
	Spec map[string]any
}

// NewBundle makes a bundle in dir: Busybox(dir/rootfs, applets...) and `runc spec`, read
// into Spec.
func NewBundle(dir string, applets ...string) (*Bundle, error) {
	if err := Busybox(filepath.Join(dir, "rootfs"), applets...); err != nil {
		return nil, err
	}
	spec := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	b := &Bundle{Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	return b, json.Unmarshal(data, &b.Spec)
}

// Write writes Spec to config.json with terminal false and args as the container's process.
func (b *Bundle) Write(args ...string) error {
	proc, ok := b.Spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644)
}
