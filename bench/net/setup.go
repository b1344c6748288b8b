package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/runuml/runuml/bench/benchrt"
)

// bundle is the benchmark's bundle; set rewrites its network namespace, annotations and
// process args per container.
type bundle struct {
	*benchrt.Bundle
	tcpbench string // the same static binary as the rootfs's /bin/tcpbench, for the host
}

// makeBundle makes a busybox-static rootfs with a static tcpbench and a `runc spec`
// config.json in dir.
func makeBundle(dir string) (*bundle, error) {
	bb, err := benchrt.NewBundle(dir, "sh", "ip", "cat", "sleep")
	if err != nil {
		return nil, err
	}
	b := &bundle{Bundle: bb, tcpbench: filepath.Join(dir, "rootfs", "bin", "tcpbench")}
	return b, benchrt.GoBuild(b.tcpbench, "./bench/net/tcpbench", "-s -w", true)
}

// set writes config.json with the network namespace at nsPath, the annotations, terminal
// false and args as the container's process.
func (b *bundle) set(nsPath string, annotations map[string]string, args ...string) error {
	linux, _ := b.Spec["linux"].(map[string]any)
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
	delete(b.Spec, "annotations")
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
		b.Spec["annotations"] = ann
	}
	if len(sysctl) > 0 {
		linux["sysctl"] = sysctl
	}
	return b.Write(args...)
}
