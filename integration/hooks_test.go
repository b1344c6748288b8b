package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var hookKinds = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// recordHook is a host hook script, `record KIND DIR`: it keeps the state it gets on stdin
// as DIR/KIND.json, appends KIND to DIR/order, and notes the network namespace of the
// state's pid and whether the guest had booted (its kernel log exists in $STATE_DIR).
const recordHook = `#!/bin/sh
kind=$1 dir=$2
cat > "$dir/$kind.json"
echo "$kind" >> "$dir/order"
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$dir/$kind.json")
readlink "/proc/$pid/ns/net" > "$dir/$kind.netns" 2>/dev/null || true
if [ -e "$STATE_DIR/kernel.log" ]; then echo booted > "$dir/$kind.booted"; fi
exit 0
`

// hookSet writes the record hook and returns a function making its hook of a kind, with
// the records going to the returned directory.
func (e *env) hookSet(id string) (hook func(kind string) specs.Hook, records string) {
	e.t.Helper()
	records = filepath.Join(e.dir, id+"-hooks")
	script := filepath.Join(e.dir, "record-hook")
	if err := os.MkdirAll(records, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(recordHook), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return func(kind string) specs.Hook {
		return specs.Hook{Path: script, Args: []string{script, kind, records},
			Env: []string{testPath, "STATE_DIR=" + filepath.Join(e.root, id)}}
	}, records
}

// shHook is a hook running script with /bin/sh on the host.
func shHook(script string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
}

// setHooks puts hooks of kind into a spec.
func setHooks(s *specs.Spec, kind string, hooks ...specs.Hook) {
	if s.Hooks == nil {
		s.Hooks = &specs.Hooks{}
	}
	//lint:ignore SA1019 prestart is deprecated, but docker's network hook is one
	p := map[string]*[]specs.Hook{"prestart": &s.Hooks.Prestart, "createRuntime": &s.Hooks.CreateRuntime,
		"createContainer": &s.Hooks.CreateContainer, "startContainer": &s.Hooks.StartContainer,
		"poststart": &s.Hooks.Poststart, "poststop": &s.Hooks.Poststop}[kind]
	*p = append(*p, hooks...)
}

// TestHooks checks that each kind of hook runs once, in the lifecycle's order and at its
// point (create's before create returns, prestart and createRuntime before the guest boots,
// createContainer after; startContainer and poststart in start; poststop in delete), with
// the container's state on stdin: its status at that point and the pid of the pid file,
// whose network namespace (a new one, as the spec asks) a prestart hook can open as
// docker's does.
func TestHooks(t *testing.T) {
	e := newEnv(t)
	hook, records := e.hookSet("hooked")
	b := e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example.hooks": "yes"}
		for _, kind := range hookKinds {
			setHooks(s, kind, hook(kind))
		}
	})
	order := func() []string {
		data, _ := os.ReadFile(filepath.Join(records, "order"))
		return strings.Fields(string(data))
	}

	c := e.create("hooked", b)
	if got := order(); !slices.Equal(got, hookKinds[:3]) {
		t.Errorf("hooks run by create: %q, want %q", got, hookKinds[:3])
	}
	e.start(c)
	if got := order(); !slices.Equal(got, hookKinds[:5]) {
		t.Errorf("hooks run by create and start: %q, want %q", got, hookKinds[:5])
	}
	if st := e.state("hooked"); st.Status != "running" {
		t.Errorf("status after start: %q, want running", st.Status)
	}
	if err := e.rc.Delete(e.ctx, "hooked", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatalf("delete --force: %v", err)
	}
	if got := order(); !slices.Equal(got, hookKinds) {
		t.Errorf("hooks run by create, start and delete: %q, want %q", got, hookKinds)
	}

	status := map[string]string{"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
		"startContainer": "created", "poststart": "running", "poststop": "stopped"}
	for _, kind := range hookKinds {
		data, _ := os.ReadFile(filepath.Join(records, kind+".json"))
		var st specs.State
		if err := json.Unmarshal(data, &st); err != nil || st.Version == "" || st.ID != "hooked" ||
			st.Pid != c.pid || st.Bundle != b.Dir || string(st.Status) != status[kind] ||
			st.Annotations["org.example.hooks"] != "yes" {
			t.Errorf("%s hook got state %s (%v); want id hooked, status %s, pid %d, bundle %s and the annotation",
				kind, data, err, status[kind], c.pid, b.Dir)
		}
	}
	// The spec asks for a new network namespace: the monitor's, which hooks find by its pid.
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	for _, kind := range []string{"prestart", "createRuntime"} {
		ns, _ := os.ReadFile(filepath.Join(records, kind+".netns"))
		if !strings.HasPrefix(string(ns), "net:[") || strings.TrimSpace(string(ns)) == hostNet {
			t.Errorf("%s hook read /proc/%d/ns/net as %q; want a namespace other than the host's %s", kind, c.pid, ns, hostNet)
		}
		if _, err := os.Stat(filepath.Join(records, kind+".booted")); err == nil {
			t.Errorf("%s hook ran after the guest started booting", kind)
		}
	}
	if _, err := os.Stat(filepath.Join(records, "createContainer.booted")); err != nil {
		t.Error("createContainer hook ran before the guest booted")
	}
}

// TestCreateHookFails checks that a failing hook of create fails it as runc does: the
// error names the hook and quotes its output, exit status 1, no pid file, and nothing is
// left behind (the env checks: no monitor, guest, state dir, cgroup or mount).
func TestCreateHookFails(t *testing.T) {
	requireGuests(t)
	for _, kind := range hookKinds[:3] {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
				setHooks(s, kind, shHook("true"), shHook("echo to-out; echo to-err >&2; exit 3"))
			})
			want := fmt.Sprintf("error running %s hook #1: exit status 3, stdout: to-out\n, stderr: to-err", kind)
			pidFile := filepath.Join(e.dir, "bad.pid")
			err := e.rc.Create(e.ctx, "bad", b.Dir, &runc.CreateOpts{PidFile: pidFile})
			e.wantErr("create", err, want)
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed create left a pid file (%v)", err)
			}
			e.cliFails(fmt.Sprintf("error running %s hook #1: exit status 3", kind), "create", "--bundle", b.Dir, "bad")
		})
	}
}

// TestHookTimeout checks that a hook running past its timeout is killed with what it
// started, and fails create.
func TestHookTimeout(t *testing.T) {
	e := newEnv(t)
	childPid := filepath.Join(e.dir, "child.pid")
	one := 1
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		h := shHook("sleep 60 & echo $! > " + childPid + "; wait")
		h.Timeout = &one
		setHooks(s, "prestart", h)
	})
	begin := time.Now()
	err := e.rc.Create(e.ctx, "slow", b.Dir, &runc.CreateOpts{})
	e.wantErr("create", err, "error running prestart hook #0: hook ran past specified timeout of 1.0s")
	if took := time.Since(begin); took > 30*time.Second {
		t.Errorf("create with a 1 s hook timeout took %v", took)
	}
	data, _ := os.ReadFile(childPid)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid == 0 {
		t.Fatal("the hook did not record its child")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") { // gone, or dead and not yet reaped
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out hook's child %d still runs", pid)
		}
	}
}

// TestHookFailuresAfterCreate checks the later hooks: a failing startContainer or poststart
// hook fails start and stops the container (runtime spec 1.3, runc); a failing poststop hook
// is logged as a warning, the hooks after it still run, and delete succeeds.
func TestHookFailuresAfterCreate(t *testing.T) {
	e := newEnv(t)
	hook, records := e.hookSet("warned")
	b := e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		setHooks(s, "poststart", shHook("exit 4"), hook("poststart"))
		setHooks(s, "poststop", shHook("echo gone >&2; exit 5"), hook("poststop"))
	})
	e.create("warned", b)
	e.wantErr("start", e.rc.Start(e.ctx, "warned"), "error running poststart hook #0: exit status 4")
	e.waitStatus("warned", "stopped")
	if err := e.rc.Delete(e.ctx, "warned", nil); err != nil {
		t.Errorf("delete with a failing poststop hook: %v", err)
	}
	if want := "error running poststop hook #0: exit status 5, stdout: , stderr: gone"; !e.logHas("warning", want) {
		t.Errorf("no warning in the runtime log saying %q", want)
	}
	if _, err := os.Stat(filepath.Join(records, "poststart.json")); err == nil {
		t.Errorf("the poststart hook after the failing one ran")
	}
	if _, err := os.Stat(filepath.Join(records, "poststop.json")); err != nil {
		t.Errorf("the poststop hook after the failing one did not run")
	}

	b = e.newBundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		setHooks(s, "startContainer", shHook("exit 6"))
	})
	e.create("nostart", b)
	e.wantErr("start", e.rc.Start(e.ctx, "nostart"), "error running startContainer hook #0: exit status 6")
	e.waitStatus("nostart", "stopped")
	if err := e.rc.Delete(e.ctx, "nostart", nil); err != nil {
		t.Errorf("delete after a failing startContainer hook: %v", err)
	}
}

// logHas reports whether the runtime log has an entry of level whose message says want.
func (e *env) logHas(level, want string) bool {
	f, err := os.Open(e.log)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var entry struct{ Level, Msg string }
		if json.Unmarshal(s.Bytes(), &entry) == nil && entry.Level == level && strings.Contains(entry.Msg, want) {
			return true
		}
	}
	return false
}
