package guest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runuml/runuml/oci"
)

// The guest's host processes live in a cgroup v2 group of their own, so pause can freeze the
// whole guest at once (cgroup.freeze). It is under /sys/fs/cgroup on a v2 host and under
// /sys/fs/cgroup/unified on a hybrid one; without v2 there is no pause.
var cgroupRoots = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}

// errNoFreezer is returned by pause on a host without a cgroup v2 hierarchy.
var errNoFreezer = errors.New("pause needs a cgroup v2 hierarchy on the host")

// cgroupName names the group of container id in store: ids are unique only per --root.
func cgroupName(store oci.Store, id string) string {
	h := fnv.New32a()
	h.Write([]byte(store.Root))
	return fmt.Sprintf("%s-%08x", id, h.Sum32())
}

// makeCgroup creates the guest's group and returns its path, or "" without cgroup v2.
func makeCgroup(store oci.Store, id string) (string, error) {
	for _, root := range cgroupRoots {
		if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
			continue
		}
		dir := filepath.Join(root, "runuml", cgroupName(store, id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("cgroup: %w", err)
		}
		return dir, nil
	}
	return "", nil
}

// removeCgroup removes the guest's group once its processes are gone.
func removeCgroup(dir string) {
	if dir == "" {
		return
	}
	for i := 0; i < 50; i++ {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond) // EBUSY: the last process may still be leaving
	}
}

// freeze freezes (or thaws) the group and waits until the kernel reports it done.
func freeze(dir string, frozen bool) error {
	if dir == "" {
		return errNoFreezer
	}
	want := "0"
	if frozen {
		want = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(want), 0); err != nil {
		return fmt.Errorf("cgroup.freeze: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		events, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return err
		}
		if strings.Contains(string(events), "frozen "+want) {
			return nil
		}
	}
	return fmt.Errorf("cgroup.freeze: the guest did not reach frozen=%s", want)
}

// RemoveCgroup removes container id's group if a killed monitor left it behind.
func RemoveCgroup(store oci.Store, id string) {
	for _, root := range cgroupRoots {
		os.Remove(filepath.Join(root, "runuml", cgroupName(store, id)))
	}
}
