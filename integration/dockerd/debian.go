package dockerd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DebianCache is where the Debian test image's rootfs tarball is kept between runs: made
// once with debootstrap from Debian's archive (no image registry can be reached).
const DebianCache = "/var/cache/runuml/images/debian-bookworm-minbase.tar"

// debianMirror is the archive debootstrap fetches from.
const debianMirror = "http://deb.debian.org/debian"

// ImportDebian makes image name from a minimal Debian 12 rootfs (debootstrap --variant=minbase,
// about 40 s the first time, then cached in DebianCache) with `docker import`.
func (d *Daemons) ImportDebian(name string) error {
	if _, err := os.Stat(DebianCache); err != nil {
		if err := makeDebianTar(DebianCache); err != nil {
			return err
		}
	}
	f, err := os.Open(DebianCache)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, stderr, err := d.Docker(f, "import", "-c", `CMD ["bash"]`, "-", name); err != nil {
		return fmt.Errorf("docker import %s: %v: %s", DebianCache, err, stderr)
	}
	return nil
}

// makeDebianTar runs debootstrap into a temporary dir and tars it to path, atomically.
func makeDebianTar(path string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("no debootstrap for the Debian test image (apt-get install debootstrap): %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), "debootstrap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", rootfs, debianMirror).CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap: %v: %s", err, tail(out))
	}
	os.RemoveAll(filepath.Join(rootfs, "var/cache/apt/archives"))
	tmp := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tmp, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar the Debian rootfs: %v: %s", err, out)
	}
	return os.Rename(tmp, path)
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
