package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The rootfs modes of the org.runuml.rootfs annotation: ubd (an ext4 image of the bundle's
// rootfs, the container's own) and image:PATH (a shared read-only base under a COW file of
// the container's own). Bind mounts still go through hostfs.

const rootfsAnnotation = "org.runuml.rootfs"

func withRootfs(mode string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[rootfsAnnotation] = mode
	}
}

func writable(s *specs.Spec) { s.Root.Readonly = false }

// TestRootfsUbd runs a container whose root is an ext4 image made from the bundle's rootfs:
// it sees the rootfs's files on /dev/ubda, its writes stay in the image (the bundle's
// directory is unchanged), a volume still reaches the host, and the jail holds the image
// but not the bundle's rootfs. Delete removes the image.
func TestRootfsUbd(t *testing.T) {
	e := newEnv(t)
	vol := filepath.Join(e.dir, "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	b := e.newBundle([]string{"sh", "-c", `
grep " / " /proc/mounts
echo new > /root/new && cat /root/new
grep ^root: /etc/passwd
echo vol > /data/from-guest
mount -t hostfs none /mnt -o / && ls -A /mnt/rootfs /mnt/runuml
echo done
sleep 100`}, privileged, writable, withRootfs("ubd"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind"}})
	})
	c := e.create("ubd", b)
	image := filepath.Join(e.root, "ubd", "rootfs.img")
	if fi, err := os.Stat(image); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("no image in the state dir after create: %v", err)
	}
	e.start(c)
	if !c.stdout.waitFor("done\n", waitTimeout) {
		t.Fatalf("output %q, stderr %q", c.stdout.String(), c.stderr.String())
	}
	out := c.stdout.String()
	for _, want := range []string{"/dev/ubda / ext4 rw", "new\n", "root:x:0:0:", "/mnt/rootfs:\n\n", "rootfs.img\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if data, err := os.ReadFile(filepath.Join(vol, "from-guest")); string(data) != "vol\n" {
		t.Errorf("volume file on the host: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "root", "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a write to the image reached the bundle's rootfs (%v)", err)
	}
	if err := e.rc.Delete(e.ctx, "ubd", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(image); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("delete left the image (%v)", err)
	}
}

// TestRootfsUbdReadonly: with root.readonly the image is the container's root read-only, as
// the rootfs directory is under runc; the mount points the spec needs are still made.
func TestRootfsUbdReadonly(t *testing.T) {
	e := newEnv(t)
	res := e.run("ro", e.newBundle([]string{"sh", "-c", `grep " / " /proc/mounts; touch /x; ls -d /dev/pts`},
		withRootfs("ubd")), nil)
	out := string(res.stdout)
	if !strings.Contains(out, "/dev/ubda / ext4 ro") || !strings.Contains(string(res.stderr), "Read-only file system") ||
		!strings.Contains(out, "/dev/pts\n") {
		t.Errorf("status %d, stdout %q, stderr %q; want the image mounted read-only and touch refused", res.status, out, res.stderr)
	}
}

// TestRootfsImageShared runs two containers at once on one base image: each sees the base's
// files and only its own writes, guest root cannot write the base through hostfs, and the
// base is unchanged (sha256) after both are gone. Delete removes each COW file.
func TestRootfsImageShared(t *testing.T) {
	e := newEnv(t)
	base := makeBaseImage(e, "base-marker\n")
	before := sha256File(t, base)
	cow := map[string]string{}
	for _, id := range []string{"one", "two"} {
		c := e.create(id, e.newBundle([]string{"sleep", "100"}, privileged, writable, withRootfs("image:"+base)))
		e.start(c)
		cow[id] = filepath.Join(e.root, id, "rootfs.img")
		if _, err := os.Stat(cow[id]); err != nil {
			t.Fatalf("no COW file in the state dir: %v", err)
		}
	}
	sh := func(id, script string) (string, string, int) {
		t.Helper()
		out, errOut, status, err := e.execRun(id, execProc("sh", "-c", script), nil)
		if err != nil {
			t.Fatalf("exec in %s: %v", id, err)
		}
		return out, errOut, status
	}
	if out, errOut, status := sh("one", "cat /etc/marker; echo one > /root/who; sync; cat /root/who"); out != "base-marker\none\n" {
		t.Errorf("container one: %q, %q, status %d; want the base's marker and its own write", out, errOut, status)
	}
	if out, errOut, status := sh("two", "cat /etc/marker; cat /root/who"); out != "base-marker\n" || status == 0 {
		t.Errorf("container two: %q, %q, status %d; want the base's marker and no file of container one's", out, errOut, status)
	}
	sh("two", "echo two > /root/who; sync")
	for _, id := range []string{"one", "two"} {
		if out, _, _ := sh(id, "cat /root/who"); out != id+"\n" {
			t.Errorf("container %s reads %q, want its own write", id, out)
		}
	}
	// A third, while both run; exec cannot mount (it is chrooted into the container's root).
	res := e.run("three", e.newBundle([]string{"sh", "-c", `mount -t hostfs none /mnt -o / && ls /mnt/runuml && echo x >> /mnt/runuml/rootfs.base`},
		privileged, writable, withRootfs("image:"+base)), nil)
	if res.status == 0 || !strings.Contains(string(res.stdout), "rootfs.base\n") || !strings.Contains(string(res.stderr), "Read-only file system") {
		t.Errorf("guest root appending to the base through hostfs: status %d, %q, %q; want EROFS", res.status, res.stdout, res.stderr)
	}
	for _, id := range []string{"one", "two"} {
		if err := e.rc.Delete(e.ctx, id, &runc.DeleteOpts{Force: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(cow[id]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("delete left the COW file of %s (%v)", id, err)
		}
	}
	if after := sha256File(t, base); after != before {
		t.Errorf("the base image changed: sha256 %s, was %s", after, before)
	}
}

// TestRootfsBadAnnotation: a bad rootfs mode fails create and run with an error naming the
// annotation, exit status 1 and nothing left (the env checks); so does a ubd container whose
// process cannot start, after its image was made.
func TestRootfsBadAnnotation(t *testing.T) {
	e := newEnv(t)
	zeros := filepath.Join(e.dir, "zeros.img")
	if err := os.WriteFile(zeros, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode string
		args []string
		want string
	}{
		{"nfs", nil, rootfsAnnotation + `="nfs": want "hostfs", "ubd" or "image:/PATH/TO/IMAGE"`},
		{"image:base.img", nil, "the image path must be absolute"},
		{"image:" + filepath.Join(e.dir, "missing.img"), nil, "missing.img: no such file or directory"},
		{"image:" + zeros, nil, "not an ext2/3/4 file system image"},
		{"image:" + e.dir, nil, "not a regular file"},
		{"ubd", []string{"no-such-cmd"}, "executable file not found"},
	} {
		args := tc.args
		if args == nil {
			args = []string{"echo", "must not run"}
		}
		b := e.newBundle(args, withRootfs(tc.mode))
		e.clearLog()
		err := e.rc.Create(e.ctx, "bad", b.Dir, &runc.CreateOpts{PidFile: filepath.Join(e.dir, "bad.pid")})
		e.wantErr("create with "+tc.mode, err, tc.want)
		if tc.args == nil && !strings.Contains(e.lastLogError(), rootfsAnnotation) {
			t.Errorf("%s: error %q does not name the annotation", tc.mode, e.lastLogError())
		}
		e.cliFails(tc.want, "run", "--bundle", b.Dir, "bad")
	}
}

// makeBaseImage makes an ext4 image of a busybox rootfs whose /etc/marker holds marker, as a
// user would with mkfs.ext4 -d.
func makeBaseImage(e *env, marker string) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, "base")
	if err := makeRootfs(dir); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "marker"), []byte(marker), 0o644); err != nil {
		e.t.Fatal(err)
	}
	img := filepath.Join(e.dir, "base.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-d", dir, img, "64M").CombinedOutput(); err != nil {
		e.t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return img
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestCtrRootfsUbd runs an image through containerd with its rootfs on a ubd image (ctr run
// --annotation; the docker here is 20.10, which has no --annotation): the image's files on
// ext4 on /dev/ubda, and its writes in the container's own disk.
func TestCtrRootfsUbd(t *testing.T) {
	d := needDaemons(t)
	image := d.ctrImage(t)
	args := []string{"run", "--rm", "--runc-binary", runumlBin, "--runc-root", filepath.Join(d.Dir, "runc"),
		"--fifo-dir", filepath.Join(d.Dir, "fifo"), "--annotation", rootfsAnnotation + "=ubd", image, "ctr-ubd",
		"sh", "-c", `grep " / " /proc/mounts | cut -d" " -f1-3; echo x > /new && cat /new; ls /bin/busybox`}
	out, status := d.ctr(t, args...)
	if status != 0 || out != "/dev/ubda / ext4\nx\n/bin/busybox\n" {
		t.Errorf("ctr run with %s=ubd: status %d, output %q", rootfsAnnotation, status, out)
	}
}
