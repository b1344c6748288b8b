package install

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// ContainerdConfig is containerd's configuration file.
const ContainerdConfig = "/etc/containerd/config.toml"

// The lines that enclose the block install adds to containerd's config: uninstall removes
// what lies between them and nothing else.
const (
	beginMark = "# BEGIN runuml runtime %s (added by `runuml install`, removed by `runuml uninstall`)"
	endMark   = "# END runuml runtime %s"
)

// criPlugin is the CRI plugin's table in each version of containerd's config format: 1 (no
// version key), 2 (containerd 1.x) and 3 (containerd 2.x).
var criPlugin = map[int64][]string{
	1: {"plugins", "cri"},
	2: {"plugins", "io.containerd.grpc.v1.cri"},
	3: {"plugins", "io.containerd.cri.v1.runtime"},
}

// AddContainerdRuntime registers a CRI runtime handler name in the containerd config at path:
// containerd's runc shim with binary as its runc (the file is made, as config version 2, if it
// is missing). The block is appended between marker lines, so comments and layout of the rest
// of the file are kept; the result is parsed (strictly, by go-toml) before it is written, and
// a file that would not parse, or that already defines the handler itself, is left alone with an error. Adding the
// same handler again replaces only the block added before.
func AddContainerdRuntime(path, name, binary string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	rest, _, err := cutBlock(string(data), name)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// A missing or empty file is made a version 2 config, which containerd 1.x and 2.x read.
	created := strings.TrimSpace(rest) == ""
	var doc map[string]any
	if err := toml.Unmarshal([]byte(rest), &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	version, _ := doc["version"].(int64)
	if created {
		version = 2
	} else if version == 0 {
		version = 1
	}
	plugin, ok := criPlugin[version]
	if !ok {
		return fmt.Errorf("%s: unknown config version %d", path, version)
	}
	keys := append(append([]string{}, plugin...), "containerd", "runtimes", name)
	table := tableName(keys)
	if _, err := lookup(doc, keys); err == nil {
		return fmt.Errorf("%s: runtime %q is already defined there, not by runuml install; leaving it alone", path, name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, beginMark+"\n", name)
	if created {
		b.WriteString("version = 2\n\n")
	}
	fmt.Fprintf(&b, "[%s]\n  runtime_type = \"io.containerd.runc.v2\"\n", table)
	fmt.Fprintf(&b, "[%s.options]\n  BinaryName = %s\n", table, strconv.Quote(binary))
	fmt.Fprintf(&b, endMark+"\n", name)
	out := rest
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if out != "" && !strings.HasSuffix(out, "\n\n") {
		out += "\n"
	}
	out += b.String()
	if err := checkRuntime(out, keys, binary); err != nil {
		return fmt.Errorf("%s: adding runtime %q would give: %w", path, name, err)
	}
	if out == string(data) {
		return nil
	}
	return writeAtomic(path, []byte(out))
}

// RemoveContainerdRuntime removes the block AddContainerdRuntime added for name, and the file
// if that block was all of it. A missing file or block is not an error.
func RemoveContainerdRuntime(path, name string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	rest, found, err := cutBlock(string(data), name)
	if err != nil || !found {
		return err
	}
	if strings.TrimSpace(rest) == "" {
		return os.Remove(path)
	}
	// The blank line added before the block goes with it.
	if strings.HasSuffix(rest, "\n\n") {
		rest = rest[:len(rest)-1]
	}
	return writeAtomic(path, []byte(rest))
}

// cutBlock returns the config without the marked block for name, and whether there was one.
func cutBlock(config, name string) (rest string, found bool, err error) {
	begin, end := fmt.Sprintf(beginMark, name)+"\n", fmt.Sprintf(endMark, name)+"\n"
	i := strings.Index(config, begin)
	if i < 0 {
		return config, false, nil
	}
	j := strings.Index(config[i:], end)
	if j < 0 {
		return "", false, fmt.Errorf("the line %q has no matching %q", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	return config[:i] + config[i+j+len(end):], true, nil
}

// checkRuntime parses config and checks that it defines the runtime at keys as the runc shim
// with binary as its runc.
func checkRuntime(config string, keys []string, binary string) error {
	var doc map[string]any
	if err := toml.Unmarshal([]byte(config), &doc); err != nil {
		return err
	}
	v, err := lookup(doc, keys)
	if err != nil {
		return err
	}
	rt, _ := v.(map[string]any)
	opts, _ := rt["options"].(map[string]any)
	if rt["runtime_type"] != "io.containerd.runc.v2" || opts["BinaryName"] != binary {
		return fmt.Errorf("runtime %q is %v, not the runc shim with BinaryName %q", keys[len(keys)-1], v, binary)
	}
	return nil
}

// lookup returns the value at keys in a decoded TOML document.
func lookup(doc map[string]any, keys []string) (any, error) {
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not a table", k)
		}
		if v, ok = m[k]; !ok {
			return nil, fmt.Errorf("no key %s", k)
		}
	}
	return v, nil
}

// tableName writes a table's keys as a TOML table header does, quoting those that need it.
func tableName(keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k
		if strings.ContainsAny(k, ". \"'") || k == "" {
			parts[i] = strconv.Quote(k)
		}
	}
	return strings.Join(parts, ".")
}
