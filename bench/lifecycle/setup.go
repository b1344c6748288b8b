package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// bundle is one OCI bundle shared by every runtime; set rewrites its process args per case.
type bundle struct {
	dir  string
	spec map[string]any // config.json from `runc spec`, kept generic so no field is lost
}

// makeBundle makes a busybox-static rootfs and a `runc spec` config.json in dir.
func makeBundle(dir string) (*bundle, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	bin := filepath.Join(dir, "rootfs", "bin")
	// proc, dev and sys exist in every real image. runc creates missing mount points before
	// it makes the root read-only; runuml cannot (its rootfs bind is already read-only), so
	// they are made here to measure the same thing for all runtimes.
	for _, d := range []string{bin, "rootfs/proc", "rootfs/dev", "rootfs/sys"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		return nil, err
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return nil, err
		}
	}
	spec := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	b := &bundle{dir: dir}
	data, err = os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &b.spec); err != nil {
		return nil, err
	}
	return b, b.set("true")
}

// set writes config.json with terminal false and args as the container's process.
func (b *bundle) set(args ...string) error {
	proc, ok := b.spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644)
}
