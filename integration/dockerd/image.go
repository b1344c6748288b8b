package dockerd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ImportBusybox makes image name from a busybox-static rootfs with `docker import` (no
// registry can be reached) and returns the image as `docker save` writes it, for containerd.
// The rootfs has the host's /bin/busybox with a link per applet, root and nobody in
// /etc/passwd, /tmp writable by all, PATH=/bin and `sh` as its command.
func (d *Daemons) ImportBusybox(name string) (tar string, err error) {
	rootfs := filepath.Join(d.Data, "image-rootfs")
	if err := busyboxRootfs(rootfs); err != nil {
		return "", err
	}
	tarCmd := exec.Command("tar", "-C", rootfs, "-c", ".")
	out, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := tarCmd.Start(); err != nil {
		return "", err
	}
	_, stderr, err := d.Docker(out, "import", "-c", "ENV PATH=/bin", "-c", `CMD ["sh"]`, "-", name)
	if werr := tarCmd.Wait(); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", fmt.Errorf("docker import: %v: %s", err, stderr)
	}
	tar = filepath.Join(d.Data, "image.tar")
	if _, stderr, err := d.Docker(nil, "save", "-o", tar, name); err != nil {
		return "", fmt.Errorf("docker save: %v: %s", err, stderr)
	}
	return tar, nil
}

func busyboxRootfs(dir string) error {
	for _, sub := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "mnt", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "/bin/busybox", filepath.Join(dir, "bin", "busybox")).CombinedOutput(); err != nil {
		return fmt.Errorf("copy busybox (apt-get install busybox-static): %v: %s", err, out)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" {
			continue // a link to itself would be a loop
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
