package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/runuml/runuml/bench/benchrt"
)

// bundle is one OCI bundle shared by every runtime; set rewrites its network namespace,
// annotations and process args per container.
type bundle struct {
	dir      string
	tcpbench string         // the same static binary as the rootfs's /bin/tcpbench, for the host
	spec     map[string]any // config.json from `runc spec`, kept generic so no field is lost
}

// makeBundle makes a busybox-static rootfs with a static tcpbench and a `runc spec`
// config.json in dir.
func makeBundle(dir string) (*bundle, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	bin := filepath.Join(dir, "rootfs", "bin")
	// Mount points exist in every real image; runuml cannot make them in its read-only root.
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
	for _, applet := range []string{"sh", "ip", "cat", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			return nil, err
		}
	}
	b := &bundle{dir: dir, tcpbench: filepath.Join(bin, "tcpbench")}
	if err := benchrt.GoBuild(b.tcpbench, "./bench/net/tcpbench", "-s -w", true); err != nil {
		return nil, err
	}
	spec := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	if data, err = os.ReadFile(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	return b, json.Unmarshal(data, &b.spec)
}

// set writes config.json with the network namespace at nsPath, the annotations, terminal
// false and args as the container's process.
func (b *bundle) set(nsPath string, annotations map[string]string, args ...string) error {
	proc, ok := b.spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("config.json from runc spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	linux, _ := b.spec["linux"].(map[string]any)
	nss, _ := linux["namespaces"].([]any)
	found := false
	for _, n := range nss {
		if n, ok := n.(map[string]any); ok && n["type"] == "network" {
			n["path"], found = nsPath, true
		}
	}
	if !found {
		return fmt.Errorf("config.json from runc spec has no network namespace")
	}
	delete(b.spec, "annotations")
	delete(linux, "sysctl")
	ann := map[string]string{}
	sysctl := map[string]any{}
	for k, v := range annotations {
		if name, ok := strings.CutPrefix(k, "sysctl."); ok {
			sysctl[name] = v
		} else {
			ann[k] = v
		}
	}
	if len(ann) > 0 {
		b.spec["annotations"] = ann
	}
	if len(sysctl) > 0 {
		linux["sysctl"] = sysctl
	}
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644)
}
