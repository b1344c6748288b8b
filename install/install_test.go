package install

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s is not valid JSON: %v\n%s", path, err, data)
	}
	return doc
}

func TestDockerRuntime(t *testing.T) {
	rt := Runtime{Path: "/usr/local/bin/runuml", Args: []string{"--debug"}}
	umlEntry := map[string]any{"path": "/usr/local/bin/runuml", "runtimeArgs": []any{"--debug"}}
	for _, tc := range []struct {
		name, before string
		after        map[string]any // after install; uninstall gives back before
	}{
		{"missing file", "", map[string]any{"runtimes": map[string]any{"uml": umlEntry}}},
		{"other keys kept",
			`{"log-level": "warn", "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}], "max-concurrent-downloads": 12345678901}`,
			map[string]any{"log-level": "warn",
				"default-address-pools":    []any{map[string]any{"base": "10.10.0.0/16", "size": 24.0}},
				"max-concurrent-downloads": 12345678901.0,
				"runtimes":                 map[string]any{"uml": umlEntry}}},
		{"other runtimes kept",
			`{"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}}`,
			map[string]any{"runtimes": map[string]any{"runsc": map[string]any{"path": "/usr/bin/runsc"}, "uml": umlEntry}}},
		{"old entry replaced", `{"runtimes": {"uml": {"path": "/old/runuml"}}}`,
			map[string]any{"runtimes": map[string]any{"uml": umlEntry}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "docker", "daemon.json")
			if tc.before != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 2; i++ { // the second time changes nothing
				if err := AddDockerRuntime(path, "uml", rt); err != nil {
					t.Fatal(err)
				}
				if got := readJSON(t, path); !reflect.DeepEqual(got, tc.after) {
					t.Fatalf("install %d: got %v, want %v", i+1, got, tc.after)
				}
			}
			if fi, _ := os.Stat(path); tc.before != "" && fi.Mode().Perm() != 0o600 {
				t.Errorf("mode changed to %v", fi.Mode().Perm())
			}
			for i := 0; i < 2; i++ {
				if err := RemoveDockerRuntime(path, "uml"); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]any{}
			json.Unmarshal([]byte(tc.before), &want)
			if strings.Contains(tc.before, `"uml"`) { // the old entry is not brought back
				delete(want, "runtimes")
			}
			if len(want) == 0 { // a file left with nothing in it goes
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("uninstall left %s behind (%v)", path, err)
				}
				return
			}
			if got := readJSON(t, path); !reflect.DeepEqual(got, want) {
				t.Errorf("after uninstall: got %v, want %v", got, want)
			}
		})
	}
}

func TestDockerRuntimeRefusesBadJSON(t *testing.T) {
	for _, bad := range []string{`{"runtimes": `, `[1, 2]`, `{"runtimes": "runc"}`} {
		path := filepath.Join(t.TempDir(), "daemon.json")
		os.WriteFile(path, []byte(bad), 0o644)
		if err := AddDockerRuntime(path, "uml", Runtime{Path: "/x"}); err == nil {
			t.Errorf("install into %q succeeded", bad)
		}
		if data, _ := os.ReadFile(path); string(data) != bad {
			t.Errorf("%q was changed to %q", bad, data)
		}
	}
}

func TestDockerUninstallLeavesOthersAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.json")
	const before = "{}\n"
	os.WriteFile(path, []byte(before), 0o644)
	if err := RemoveDockerRuntime(path, "uml"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != before {
		t.Errorf("a file without the runtime became %q (%v)", data, err)
	}
	if err := RemoveDockerRuntime(filepath.Join(t.TempDir(), "none.json"), "uml"); err != nil {
		t.Errorf("missing file: %v", err)
	}
}

// bookworm is /etc/containerd/config.toml as Debian 12's containerd package ships it.
const bookworm = `version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
`

func TestContainerdRuntime(t *testing.T) {
	for _, tc := range []struct {
		name, before, table string
	}{
		{"missing file", "", `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.uml]`},
		{"bookworm", bookworm, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.uml]`},
		{"version 1", "# old\n[plugins.cri]\n  sandbox_image = \"pause\"", `[plugins.cri.containerd.runtimes.uml]`},
		{"version 3", "version = 3\n# comment kept\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n",
			`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.uml]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "containerd", "config.toml")
			if tc.before != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				os.WriteFile(path, []byte(tc.before), 0o644)
			}
			var first string
			for i := 0; i < 2; i++ {
				if err := AddContainerdRuntime(path, "uml", "/usr/local/bin/runuml"); err != nil {
					t.Fatal(err)
				}
				data, _ := os.ReadFile(path)
				if i == 0 {
					first = string(data)
				} else if string(data) != first {
					t.Fatalf("second install changed the file:\n%s\nto\n%s", first, data)
				}
			}
			if !strings.HasPrefix(first, tc.before) {
				t.Errorf("the existing config is not kept verbatim:\n%s", first)
			}
			if !strings.Contains(first, tc.table+"\n  runtime_type = \"io.containerd.runc.v2\"\n") ||
				!strings.Contains(first, "BinaryName = \"/usr/local/bin/runuml\"") {
				t.Errorf("no runtime %s in:\n%s", tc.table, first)
			}
			for i := 0; i < 2; i++ {
				if err := RemoveContainerdRuntime(path, "uml"); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if tc.before == "" {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("uninstall left the file it made: %q (%v)", data, err)
				}
				return
			}
			if string(data) != tc.before && string(data) != tc.before+"\n" {
				t.Errorf("after uninstall:\n%q\nwant\n%q", data, tc.before)
			}
		})
	}
}

func TestContainerdRuntimeNewPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(path, []byte(bookworm), 0o644)
	AddContainerdRuntime(path, "uml", "/old/runuml")
	if err := AddContainerdRuntime(path, "uml", "/new/runuml"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "/old/runuml") || strings.Count(string(data), "BinaryName") != 1 {
		t.Errorf("reinstall with a new path gave:\n%s", data)
	}
}

func TestContainerdRuntimeRefuses(t *testing.T) {
	for name, before := range map[string]string{
		"not toml": "version = 2\n[plugins\n",
		"defined by the user": bookworm + "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.uml]\n" +
			"  runtime_type = \"io.containerd.runsc.v1\"\n",
		"inline table": "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  runtimes = {runc = {runtime_type = \"io.containerd.runc.v2\"}}\n",
	} {
		path := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(path, []byte(before), 0o644)
		if err := AddContainerdRuntime(path, "uml", "/usr/local/bin/runuml"); err == nil {
			t.Errorf("%s: install succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if data, _ := os.ReadFile(path); string(data) != before {
			t.Errorf("%s: file changed to:\n%s", name, data)
		}
	}
}
