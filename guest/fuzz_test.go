package guest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/runuml/runuml/hostfs"
	"github.com/runuml/runuml/oci"
)

// FuzzSpecToGuest: a config.json that oci.ParseSpec accepts goes through every pure step the
// monitor takes before the guest boots (guest memory, cpuset, host cgroup limits, the jail's
// binds, the kernel command line) without a panic or a runaway loop; a refusal wraps
// oci.ErrBadConfig where it is the config's fault.
func FuzzSpecToGuest(f *testing.F) {
	bundle := f.TempDir()
	os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755)
	example, _ := json.Marshal(oci.Example())
	f.Add(example)
	for _, s := range []string{
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},` +
			`"mounts":[{"destination":"/d","type":"bind","source":"/","options":["rbind","ro"]}],` +
			`"annotations":{"org.runuml.memory":"64M"},` +
			`"linux":{"resources":{"cpu":{"cpus":"0-1,3","shares":512,"quota":50000,"period":100000},"memory":{"limit":67108864,"swap":-1},"pids":{"limit":100}}}}`,
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"annotations":{"org.runuml.memory":"1G"}}`,
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"resources":{"memory":{"limit":-1}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := oci.ParseSpec(data, bundle)
		if err != nil {
			return
		}
		mem, err := MemoryMiB(spec)
		if err != nil {
			if !errors.Is(err, oci.ErrBadConfig) {
				t.Fatalf("MemoryMiB: %q does not wrap ErrBadConfig", err)
			}
			return
		}
		if r := spec.Linux; r != nil && r.Resources != nil && r.Resources.CPU != nil && r.Resources.CPU.Cpus != "" {
			parseCPUList(r.Resources.CPU.Cpus)
		}
		var res = spec.Linux
		if res != nil {
			hostResources(res.Resources, mem, true)
		}
		root, err := hostfs.ParseRootfs(spec.Annotations)
		if err != nil {
			if !errors.Is(err, oci.ErrBadConfig) {
				t.Fatalf("ParseRootfs: %q does not wrap ErrBadConfig", err)
			}
			return
		}
		binds, g := hostfs.Plan(spec, root)
		if (len(binds) == 0 && !root.OnDevice()) || g.Root.Path != hostfs.RootfsDir || len(g.Mounts) != len(spec.Mounts) {
			t.Fatalf("plan: %d binds, guest root %q", len(binds), g.Root.Path)
		}
		Kernel{Seccomp: true}.Args(Boot{MemMiB: mem, Init: hostfs.InitPath, LineFD: 3, LogFD: 2})
	})
}
