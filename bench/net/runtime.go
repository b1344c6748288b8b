package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ociRuntime is one OCI runtime CLI with a state root of its own under the work dir; a
// runuml variant is runuml with annotations in every container's config.json.
type ociRuntime struct {
	name        string
	bin         string
	root        string
	annotations map[string]string
	stderr      *os.File
	fails       []string // errors of failed attempts, retried and reported
}

// maxTries bounds attempt: a runtime failing this often in a row ends the benchmark.
const maxTries = 3

// attempt runs f until it succeeds, up to maxTries times; each failure is reported.
func (r *ociRuntime) attempt(f func() error) error {
	var err error
	for range maxTries {
		if err = f(); err == nil {
			return nil
		}
		r.fails = append(r.fails, err.Error())
		fmt.Fprintf(os.Stderr, "failed, retrying: %v\n", err)
	}
	return err
}

func newRuntime(name, bin, work string, annotations map[string]string) (*ociRuntime, error) {
	dir := strings.NewReplacer(" ", "-", "=", "-", ",", "-", "/", "-").Replace(name)
	r := &ociRuntime{name: name, bin: bin, root: filepath.Join(work, "root-"+dir), annotations: annotations}
	var err error
	r.stderr, err = os.Create(filepath.Join(work, "stderr-"+dir))
	return r, err
}

// containers counts the containers made so far, over all runtimes, for fresh ids.
var containers int

// newID returns an id never used before, so no run sees state left by another.
func (r *ociRuntime) newID() string {
	containers++
	return fmt.Sprintf("bn%d-%d", os.Getpid(), containers)
}

func (r *ociRuntime) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.bin, append([]string{"--root", r.root}, args...)...)
}

// call runs one CLI verb with stdio as given (nil: /dev/null) and returns how long it took.
func (r *ociRuntime) call(timeout time.Duration, stdin, stdout *os.File, args ...string) (time.Duration, error) {
	if err := r.stderr.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := r.stderr.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := r.command(ctx, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = r.stderr
	t0 := time.Now()
	err := cmd.Run()
	el := time.Since(t0)
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		data, _ := os.ReadFile(r.stderr.Name())
		if len(data) > 1000 {
			data = data[len(data)-1000:]
		}
		return el, fmt.Errorf("%s %s: %w: %s", r.name, strings.Join(args, " "), err, strings.TrimSpace(string(data)))
	}
	return el, nil
}

// forceDelete removes container id whatever its state; errors are ours to ignore (it may be
// gone already).
func (r *ociRuntime) forceDelete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.command(ctx, "delete", "--force", id).Run()
}

// cleanup deletes every container left in our root, then the root itself.
func (r *ociRuntime) cleanup() {
	if out, err := r.command(context.Background(), "list", "-q").Output(); err == nil {
		for _, id := range strings.Fields(string(out)) {
			r.forceDelete(id)
		}
	}
	os.RemoveAll(r.root)
	r.stderr.Close()
}
