package oci

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"9", unix.SIGKILL, true}, {"15", unix.SIGTERM, true}, {"KILL", unix.SIGKILL, true},
		{"SIGTERM", unix.SIGTERM, true}, {"usr1", unix.SIGUSR1, true}, {"sigHup", unix.SIGHUP, true},
		{"0", 0, false}, {"65", 0, false}, {"-1", 0, false}, {"FOO", 0, false}, {"", 0, false},
	} {
		got, err := ParseSignal(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "a.b-c_d+e": true, "": false, "..": false, "a/b": false, "a b": false} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestParseSpec(t *testing.T) {
	bundle := t.TempDir()
	os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755)
	good := `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"}}`
	for _, tc := range []struct{ name, json, errText string }{
		{"good", good, ""},
		{"userns", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":10}],"gidMappings":[{"containerID":0,"hostID":1000,"size":10}]}}`, ""},
		{"broken json", `{"ociVersion":`, "config.json: unexpected end of JSON input"},
		{"no version", `{"root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"}}`, "ociVersion is missing"},
		{"no process", `{"ociVersion":"1.0.2","root":{"path":"rootfs"}}`, "process is missing"},
		{"no args", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":[],"cwd":"/"}}`, "process.args must not be empty"},
		{"bad rlimit", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","rlimits":[{"type":"RLIMIT_TEST","hard":1,"soft":1}]}}`, "wrong rlimit value: RLIMIT_TEST"},
		{"relative cwd", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"x"}}`, "must be an absolute path"},
		{"missing rootfs", `{"ociVersion":"1.0.2","root":{"path":"nope"},"process":{"args":["sh"],"cwd":"/"}}`, "is not a directory"},
		{"missing bind source", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"mounts":[{"destination":"/d","type":"bind","source":"/nonexistent-runuml"}]}`, "mount /d: source stat /nonexistent-runuml"},
		{"relative hook path", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"hooks":{"prestart":[{"path":"hook"}]}}`, `hooks.prestart[0]: path "hook" must be absolute`},
		{"zero hook timeout", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"hooks":{"poststop":[{"path":"/bin/true"},{"path":"/bin/true","timeout":0}]}}`, "hooks.poststop[1]: timeout 0 must be greater than zero"},
		{"userns without mappings", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"}]}}`, "linux.uidMappings is empty"},
		{"userns without gid mappings", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":10}]}}`, "linux.gidMappings is empty"},
		{"userns root unmapped", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":1,"hostID":1000,"size":10}],"gidMappings":[{"containerID":0,"hostID":1000,"size":10}]}}`, "must map the user namespace's uid 0"},
		{"mappings without userns", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":10}]}}`, "user namespace is not in linux.namespaces"},
		{"bad namespace", `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"bogus"}]}}`, "unknown namespace"},
	} {
		spec, err := ParseSpec([]byte(tc.json), bundle)
		if tc.errText == "" {
			if err != nil || spec.Root.Path != filepath.Join(bundle, "rootfs") {
				t.Errorf("%s: got %v, root %v", tc.name, err, spec)
			}
			continue
		}
		if !errors.Is(err, ErrBadConfig) || !contains(err.Error(), tc.errText) {
			t.Errorf("%s: error %v, want ErrBadConfig with %q", tc.name, err, tc.errText)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestStore(t *testing.T) {
	s := Store{Root: t.TempDir()}
	st := &State{ID: "c1", Status: Created, Pid: os.Getpid()}
	st.PidStart, _ = ProcStartTime(st.Pid)
	if err := s.Reserve(st); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(&State{ID: "c1"}); !errors.Is(err, ErrExist) {
		t.Errorf("second Reserve: %v, want ErrExist", err)
	}
	got, err := s.Load("c1")
	if err != nil || got.Current() != Created {
		t.Fatalf("Load: %v %v", got, err)
	}
	got.PidStart++ // a reused pid is not our monitor
	if got.Current() != Stopped {
		t.Errorf("pid with another start time: status %s, want stopped", got.Current())
	}
	if _, err := s.Load("nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Load of unknown id: %v", err)
	}
	if list, _ := s.List(); len(list) != 1 {
		t.Errorf("List: %d states", len(list))
	}
}

func TestCheckNamespacePaths(t *testing.T) {
	for _, tc := range []struct {
		typ  specs.LinuxNamespaceType
		path string
		ok   bool
	}{
		{specs.NetworkNamespace, "/proc/self/ns/net", true},
		{specs.IPCNamespace, "/proc/self/ns/ipc", true},
		{specs.CgroupNamespace, "/proc/self/ns/ipc", false},
		{specs.PIDNamespace, "/proc/self/ns/user", false},
		{specs.UTSNamespace, "/nonexistent/ns", false},
		{specs.MountNamespace, "", true},
	} {
		s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: tc.typ, Path: tc.path}}}}
		err := CheckNamespacePaths(s)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadConfig)) {
			t.Errorf("%s at %q: %v; want ok %v (else ErrBadConfig)", tc.typ, tc.path, err, tc.ok)
		}
	}
}
