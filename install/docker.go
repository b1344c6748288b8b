// Package install registers runuml as a runtime with docker and containerd, and removes that
// registration again, as `runsc install` does for gVisor. It edits only its own entries: every
// other setting of the daemons' configuration files is kept as it was.
package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DockerConfig is docker's daemon configuration file.
const DockerConfig = "/etc/docker/daemon.json"

// Runtime is a runtime entry of daemon.json's "runtimes" object, as dockerd reads it.
type Runtime struct {
	Path string   `json:"path"`
	Args []string `json:"runtimeArgs,omitempty"`
}

// AddDockerRuntime sets runtime name to rt in the daemon.json at path, creating the file if
// it is missing. Other keys, and other runtimes, are kept with their values unchanged; the
// file is replaced atomically. Adding the same runtime twice changes nothing.
func AddDockerRuntime(path, name string, rt Runtime) error {
	return editDaemonJSON(path, func(runtimes map[string]json.RawMessage) (bool, error) {
		data, err := json.Marshal(rt)
		if err != nil {
			return false, err
		}
		runtimes[name] = data
		return true, nil
	})
}

// RemoveDockerRuntime removes runtime name from the daemon.json at path, and the "runtimes"
// object if that leaves it empty; a file left with no key at all is removed. A missing file
// or runtime is not an error.
func RemoveDockerRuntime(path, name string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return editDaemonJSON(path, func(runtimes map[string]json.RawMessage) (bool, error) {
		_, ok := runtimes[name]
		delete(runtimes, name)
		return ok, nil
	})
}

// editDaemonJSON applies edit to the "runtimes" object of the daemon.json at path and writes
// the result back if edit says it changed anything. Values are carried as raw JSON, so numbers and nested objects stay as
// they were written.
func editDaemonJSON(path string, edit func(runtimes map[string]json.RawMessage) (bool, error)) error {
	doc := map[string]json.RawMessage{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(bytes.TrimSpace(data)) > 0:
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: not a JSON object: %w", path, err)
		}
	}
	runtimes := map[string]json.RawMessage{}
	if raw, ok := doc["runtimes"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &runtimes); err != nil {
			return fmt.Errorf("%s: \"runtimes\" is not an object: %w", path, err)
		}
	}
	if changed, err := edit(runtimes); err != nil || !changed {
		return err
	}
	if len(runtimes) == 0 {
		delete(doc, "runtimes")
	} else if doc["runtimes"], err = json.Marshal(runtimes); err != nil {
		return err
	}
	if len(doc) == 0 && data != nil {
		return os.Remove(path)
	}
	out, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	if bytes.Equal(bytes.TrimSpace(data), out) {
		return nil
	}
	return writeAtomic(path, append(out, '\n'))
}

// writeAtomic replaces the file at path with data through a temp file and a rename, keeping
// the old file's mode (0644 for a new one), and makes its directory if needed.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
