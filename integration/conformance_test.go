package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The OCI runtime-tools validation suite, fetched through the Go module proxy. v0.9.0 (2019)
// predates runtime-spec 1.x; this is the master of November 2025, for runtime-spec v1.3.0.
const (
	runtimeToolsModule  = "github.com/opencontainers/runtime-tools"
	runtimeToolsVersion = "v0.9.1-0.20251114084447-edf4cb3d2116"
	runcPath            = "/usr/sbin/runc" // Debian's
	validationTimeout   = 90 * time.Second
)

// ranToEnd is the pseudo-assertion each validation program adds: it exited 0, printed its
// plan and every assertion of it, and reported no error outside an assertion (the hook
// validations report theirs only as a YAML diagnostic).
const ranToEnd = "(the validation runs to its end)"

// tapResult is one validation's assertions (description, numbered when repeated) and
// whether each passed; TAP SKIPs are left out.
type tapResult struct {
	pass  map[string]bool
	order []string
	skips int
}

// TestConformance runs the runtime-tools validations against runc and runuml in the same run
// and checks that every assertion that passes under runc passes under runuml, except those
// conformanceExceptions lists with their reasons.
func TestConformance(t *testing.T) {
	requireGuests(t)
	if _, err := os.Stat(runcPath); err != nil {
		t.Skipf("no runc to compare with: %v", err)
	}
	e := newEnv(t)
	work := filepath.Join(e.dir, "rt")
	names, err := buildRuntimeTools(work)
	if err != nil {
		t.Fatal(err)
	}
	// RUNUML_CONFORMANCE narrows a run to the validations it matches, when working on them.
	if only := os.Getenv("RUNUML_CONFORMANCE"); only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			t.Fatalf("RUNUML_CONFORMANCE: %v", err)
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !re.MatchString(n) })
	}
	runtimes := map[string]string{
		"runc":   fmt.Sprintf("exec %s --root %s \"$@\"\n", runcPath, filepath.Join(e.dir, "runc-root")),
		"runuml": fmt.Sprintf("exec %s --root %s --log %s --log-format json \"$@\"\n", runumlBin, e.root, e.log),
	}
	for name, cmd := range runtimes {
		if err := os.WriteFile(filepath.Join(work, name), []byte("#!/bin/sh\n"+cmd), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The validations' bundles: outside the suite's 0700 dir, since runc's user-namespace
	// validation opens its bundle as a mapped uid.
	bundles, err := os.MkdirTemp("", "runuml-rt-")
	if err == nil {
		t.Cleanup(func() { os.RemoveAll(bundles) })
		err = os.Chmod(bundles, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]map[string]*tapResult{"runc": {}, "runuml": {}}
	// One at a time: the cgroup validations of both runtimes use the same cgroup paths.
	for _, v := range names {
		for _, rt := range []string{"runc", "runuml"} {
			results[rt][v] = runValidation(t, work, filepath.Join(bundles, rt), v, rt)
		}
	}
	compareConformance(t, names, results["runc"], results["runuml"])
}

// buildRuntimeTools fetches the runtime-tools module and builds runtimetest (static, as it
// runs in the container) and the validations to run into dir, with the rootfs they unpack.
// It returns the validations' names.
func buildRuntimeTools(dir string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "v"), 0o755); err != nil {
		return nil, err
	}
	dl := exec.Command("go", "mod", "download", "-json", runtimeToolsModule+"@"+runtimeToolsVersion)
	dl.Dir = dir // outside any module: this fetches, it adds nothing to ours
	dl.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := dl.Output()
	var mod struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &mod)
	}
	if err == nil && mod.Error != "" {
		err = fmt.Errorf("%s", mod.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %v", runtimeToolsModule, runtimeToolsVersion, err)
	}
	entries, err := os.ReadDir(filepath.Join(mod.Dir, "validation"))
	if err != nil {
		return nil, err
	}
	var names, pkgs []string
	for _, en := range entries {
		if en.IsDir() && en.Name() != "util" && conformanceSkipped[en.Name()] == "" {
			names = append(names, en.Name())
			pkgs = append(pkgs, "./validation/"+en.Name())
		}
	}
	// The module's own go.mod and go.sum pin its dependencies; its vendor/ holds only
	// modules.txt, so build in module mode.
	env := append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
	for _, b := range [][]string{
		{"build", "-tags", "netgo osusergo", "-o", filepath.Join(dir, "runtimetest"), "./cmd/runtimetest"},
		append([]string{"build", "-o", filepath.Join(dir, "v") + "/"}, pkgs...),
	} {
		cmd := exec.Command("go", b...)
		cmd.Dir = mod.Dir
		cmd.Env = append(env, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(b, " "), err, out)
		}
	}
	rootfs := fmt.Sprintf("rootfs-%s.tar.gz", "amd64")
	if err := copyFile(filepath.Join(mod.Dir, rootfs), filepath.Join(dir, rootfs)); err != nil {
		return nil, err
	}
	return names, nil
}

// runValidation runs one validation program against runtime rt (the wrapper script of that
// name in work), with its bundles in tmp, and parses its TAP. It runs in a private mount
// namespace: with rootfsPropagation "shared", runc's container mounts would reach the host's.
func runValidation(t *testing.T, work, tmp, name, rt string) *tapResult {
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), validationTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(work, "v", name))
	cmd.Dir = work // runtimetest and the rootfs tarball are found there
	cmd.Env = append(os.Environ(), "RUNTIME="+filepath.Join(work, rt), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and / rprivate
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	os.WriteFile(filepath.Join(work, name+"."+rt+".tap"), append(stdout.Bytes(), stderr.Bytes()...), 0o644)
	r := parseTAP(stdout.Bytes(), err == nil)
	if !r.pass[ranToEnd] {
		t.Logf("%s under %s: %v; stderr: %s", name, rt, err, lastLines(stderr.String(), 3))
	}
	return r
}

var (
	tapLine = regexp.MustCompile(`^(not )?ok\b(?: \d+)?(?: -)? ?(.*)$`)
	tapPlan = regexp.MustCompile(`^1\.\.(\d+)`)
)

// parseTAP reads a validation's TAP output; exited says whether the program exited 0.
func parseTAP(out []byte, exited bool) *tapResult {
	r := &tapResult{pass: map[string]bool{}}
	seen := map[string]int{}
	planned, lines, yamlError := -1, 0, false
	s := bufio.NewScanner(bytes.NewReader(out))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := s.Text()
		if m := tapPlan.FindStringSubmatch(line); m != nil {
			fmt.Sscan(m[1], &planned)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), `"error": "`) && strings.TrimSpace(line) != `"error": "",` {
			yamlError = true
		}
		m := tapLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		lines++
		desc := m[2]
		if strings.HasPrefix(desc, "# SKIP") || strings.Contains(desc, " # SKIP") {
			r.skips++
			continue
		}
		seen[desc]++
		if seen[desc] > 1 {
			desc = fmt.Sprintf("%s (#%d)", desc, seen[desc])
		}
		r.pass[desc] = m[1] == ""
		r.order = append(r.order, desc)
	}
	r.pass[ranToEnd] = exited && planned == lines && !(lines == 0 && yamlError)
	r.order = append(r.order, ranToEnd)
	return r
}

// compareConformance logs each runtime's totals and fails for every assertion runc passes
// and runuml does not, unless it is a listed exception.
func compareConformance(t *testing.T, names []string, runc, uml map[string]*tapResult) {
	var total, runcPass, umlPass, umlOnly, excepted, todo int
	used := map[*conformanceException]int{}
	for _, v := range names {
		for _, a := range runc[v].order {
			total++
			rp, up := runc[v].pass[a], uml[v].pass[a]
			if rp {
				runcPass++
			}
			if up {
				umlPass++
			}
			switch {
			case up && !rp:
				umlOnly++
			case rp && !up:
				if x := findConformanceException(v, a); x != nil {
					excepted++
					used[x]++
					if x.todo {
						todo++
					}
					continue
				}
				t.Errorf("%s: %q passes under runc, fails under runuml", v, a)
			}
		}
		// Assertions only runuml made (runc stopped earlier) count for runuml alone.
		for _, a := range uml[v].order {
			if _, ok := runc[v].pass[a]; !ok && uml[v].pass[a] {
				umlOnly++
			}
		}
	}
	for i, x := range conformanceExceptions {
		if n := used[&conformanceExceptions[i]]; n == 0 {
			t.Logf("exception not needed in this run: %s %q", x.validation, x.assertion)
		} else {
			t.Logf("exception, %d assertion(s): %s %q: %s", n, x.validation, x.assertion, x.reason)
		}
	}
	var skipped []string
	for v := range conformanceSkipped {
		skipped = append(skipped, v)
	}
	slices.Sort(skipped)
	t.Logf("runtime-tools %s: %d validations run, %d skipped (%s)", runtimeToolsVersion, len(names),
		len(skipped), strings.Join(skipped, ", "))
	t.Logf("assertions made under runc: %d; runc passes %d, runuml passes %d of them", total, runcPass, umlPass)
	t.Logf("runc passes and runuml fails: %d, all listed exceptions (%d of them todo); runuml passes where runc fails or stops: %d",
		excepted, todo, umlOnly)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
