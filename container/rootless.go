package container

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/runuml/runuml/guest"
)

// DefaultRoot is --root's default as root; a rootless runuml keeps its state in
// $XDG_RUNTIME_DIR/runuml instead, as runc does.
const DefaultRoot = "/run/runuml"

// Rootless resolves --rootless: "true", "false", or "auto" (runc's default), which is rootless
// when runuml runs as a user other than root or as root of a user namespace not the host's
// (rootlesskit's, `unshare -r`): there it cannot make host cgroups.
func Rootless(flag string) (bool, error) {
	switch flag {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto", "":
		return os.Geteuid() != 0 || guest.InUserNamespace(), nil
	}
	return false, fmt.Errorf("--rootless %q: want true, false or auto", flag)
}

// StateRoot returns the state directory for --root root ("" when not given): by runc's rule,
// $XDG_RUNTIME_DIR/runuml for a user other than root, or for root of a user namespace whose
// $USER is not root; else DefaultRoot.
func StateRoot(root string) (string, error) {
	if root == "" {
		root = DefaultRoot
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && honorXDG() {
			root = filepath.Join(dir, "runuml")
		}
	}
	return filepath.Abs(root)
}

func honorXDG() bool {
	if os.Geteuid() != 0 {
		return true
	}
	if !guest.InUserNamespace() {
		return false
	}
	u, ok := os.LookupEnv("USER")
	return !ok || u != "root"
}
