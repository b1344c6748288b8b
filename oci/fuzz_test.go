package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSpec: whatever config.json holds, ParseSpec returns a spec that later steps can
// use without nil checks (root, process, args, absolute cwd and mount destinations), or an
// error wrapping ErrBadConfig; it never panics. Seeds: `runuml spec`'s config (runc's), its
// variants, and testdata/fuzz/FuzzParseSpec.
func FuzzParseSpec(f *testing.F) {
	bundle := f.TempDir()
	os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755)
	example, _ := json.Marshal(Example())
	f.Add(example)
	for _, s := range []string{
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"}}`,
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},` +
			`"mounts":[{"destination":"/d","type":"bind","source":"/","options":["rbind","ro"]}],` +
			`"hooks":{"prestart":[{"path":"/bin/true","timeout":1}]},` +
			`"annotations":{"org.runuml.memory":"64M"},` +
			`"linux":{"namespaces":[{"type":"network","path":"/proc/1/ns/net"}],"resources":{"cpu":{"cpus":"0-1"},"memory":{"limit":67108864}}}}`,
		`{"ociVersion":"1.0.2","root":null,"process":null}`,
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":[""],"cwd":"/"},"hooks":{"poststop":[null]}}`,
		`[]`, `null`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseSpec(data, bundle)
		if err != nil {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("error %q does not wrap ErrBadConfig", err)
			}
			return
		}
		switch {
		case spec.Root == nil || !filepath.IsAbs(spec.Root.Path):
			t.Fatalf("accepted a spec without an absolute root: %+v", spec.Root)
		case spec.Process == nil || len(spec.Process.Args) == 0 || !filepath.IsAbs(spec.Process.Cwd):
			t.Fatalf("accepted a spec without a usable process: %+v", spec.Process)
		}
		for _, m := range spec.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Fatalf("accepted mount destination %q", m.Destination)
			}
			ParseMountOptions(m.Options)
		}
		for _, kind := range []HookKind{Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop} {
			for _, h := range kind.Of(spec.Hooks) {
				if !filepath.IsAbs(h.Path) {
					t.Fatalf("accepted hook path %q", h.Path)
				}
			}
		}
	})
}
