package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRunHooks runs real /bin/sh hooks: what each gets (stdin, args, env, cwd), the error of
// a failing one, that a failure stops the list, and a timeout.
func TestRunHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	state := specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42,
		Bundle: dir, Annotations: map[string]string{"a": "b"}}
	sh := func(script string, args ...string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: append([]string{"sh", "-c", script, "hook"}, args...),
			Env: []string{"HOOKVAR=v"}}
	}
	second := 1

	// Stdin, args, env and working directory arrive as given.
	err := RunHooks(CreateRuntime, []specs.Hook{
		sh(`cat > "$1"; echo "$HOOKVAR $(pwd) $0 $2" > "$1.more"`, out, "x"),
	}, state)
	if err != nil {
		t.Fatal(err)
	}
	var got specs.State
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &got); err != nil || got.ID != "c1" || got.Pid != 42 ||
		got.Status != specs.StateCreating || got.Bundle != dir || got.Annotations["a"] != "b" || got.Version == "" {
		t.Errorf("hook got state %s (%v)", data, err)
	}
	if more, _ := os.ReadFile(out + ".more"); string(more) != "v "+dir+" hook x\n" {
		t.Errorf("hook saw env, cwd, $0 and args %q", more)
	}

	for _, tc := range []struct {
		name  string
		hooks []specs.Hook
		want  string
	}{
		{"fails", []specs.Hook{sh("true"), sh("echo to-out; echo to-err >&2; exit 3"), sh("touch " + out + ".third")},
			"error running prestart hook #1: exit status 3, stdout: to-out\n, stderr: to-err\n"},
		{"missing", []specs.Hook{{Path: "/nonexistent/hook"}}, "error running prestart hook #0: fork/exec /nonexistent/hook"},
		{"timeout", []specs.Hook{func() specs.Hook {
			h := sh("sleep 30 & echo $! > " + out + ".child; wait")
			h.Timeout = &second
			return h
		}()},
			"error running prestart hook #0: hook ran past specified timeout of 1.0s"},
	} {
		begin := time.Now()
		err := RunHooks(Prestart, tc.hooks, state)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.name, err, tc.want)
		}
		if took := time.Since(begin); took > 10*time.Second {
			t.Errorf("%s: took %v", tc.name, took)
		}
	}
	if _, err := os.Stat(out + ".third"); err == nil {
		t.Error("a prestart hook after the failing one ran")
	}
	// Poststop hooks all run; the error names each failure.
	err = RunHooks(Poststop, []specs.Hook{sh("exit 1"), sh("touch " + out + ".third"), sh("exit 2")}, state)
	if err == nil || !strings.Contains(err.Error(), "poststop hook #0: exit status 1") || !strings.Contains(err.Error(), "poststop hook #2: exit status 2") {
		t.Errorf("poststop hooks failing: %v", err)
	}
	if _, err := os.Stat(out + ".third"); err != nil {
		t.Error("a poststop hook after a failing one did not run")
	}
	// The timed-out hook's whole process group was killed.
	pid, _ := os.ReadFile(out + ".child")
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	time.Sleep(100 * time.Millisecond)
	if _, err := ProcStartTime(n); n == 0 || err == nil {
		t.Errorf("the timed-out hook's child %q still runs", pid)
	}
}
