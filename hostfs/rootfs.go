package hostfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/runuml/runuml/oci"
)

// AnnotationRootfs chooses how the container's root file system reaches the guest:
// "hostfs" (the default: the bundle's rootfs directory through hostfs), "ubd" (an ext4 image
// made from that directory at create, the container's own) or "image:PATH" (an existing ext4
// image, shared read-only, under a copy-on-write file of the container's own).
const AnnotationRootfs = "org.runuml.rootfs"

// The rootfs modes.
const (
	ModeHostfs = "hostfs"
	ModeUbd    = "ubd"
	ModeImage  = "image"
)

// Paths of a ubd rootfs: the guest's block device, which the agent mounts on RootfsDir, and
// the files UML opens in the jail (also their names in the container's state dir).
const (
	RootDevice = "/dev/ubda"
	// ImagePath is the container's own disk: the image (ubd) or the COW file (image:PATH).
	ImagePath = "/runuml/rootfs.img"
	// BasePath is the shared read-only image under a COW file.
	BasePath  = "/runuml/rootfs.base"
	imageFile = "rootfs.img"
)

// Rootfs is the container's rootfs mode, from AnnotationRootfs.
type Rootfs struct {
	Mode  string // ModeHostfs, ModeUbd or ModeImage
	Image string // ModeImage: host path of the base image
}

// OnDevice reports whether the guest's rootfs is a block device rather than hostfs.
func (r Rootfs) OnDevice() bool { return r.Mode != ModeHostfs }

// ParseRootfs reads AnnotationRootfs from annotations. It checks the syntax only; Check
// looks at the host.
func ParseRootfs(annotations map[string]string) (Rootfs, error) {
	s := annotations[AnnotationRootfs]
	switch {
	case s == "" || s == ModeHostfs:
		return Rootfs{Mode: ModeHostfs}, nil
	case s == ModeUbd:
		return Rootfs{Mode: ModeUbd}, nil
	case strings.HasPrefix(s, ModeImage+":"):
		p := strings.TrimPrefix(s, ModeImage+":")
		if !filepath.IsAbs(p) {
			return Rootfs{}, badRootfs(s, "the image path must be absolute")
		}
		return Rootfs{Mode: ModeImage, Image: filepath.Clean(p)}, nil
	}
	return Rootfs{}, badRootfs(s, `want "hostfs", "ubd" or "image:/PATH/TO/IMAGE"`)
}

func badRootfs(value, why string) error {
	return fmt.Errorf("%w: annotation %s=%q: %s", oci.ErrBadConfig, AnnotationRootfs, value, why)
}

// ext4 (and ext2/3) superblocks carry this magic number at this offset of the image.
const (
	extMagicOffset = 1024 + 56
	extMagic       = 0xEF53
)

// Check reports what on the host keeps r from working: no mkfs.ext4 for ubd; for an image, a
// path that is not a readable ext2/3/4 image.
func (r Rootfs) Check() error {
	switch r.Mode {
	case ModeUbd:
		for _, tool := range []string{"mkfs.ext4", "debugfs"} {
			if _, err := exec.LookPath(tool); err != nil {
				return badRootfs(r.Mode, tool+" (Debian's e2fsprogs) is needed to make the image")
			}
		}
	case ModeImage:
		value := ModeImage + ":" + r.Image
		f, err := os.Open(r.Image)
		if err != nil {
			return badRootfs(value, err.Error())
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return badRootfs(value, "not a regular file")
		}
		var magic [2]byte
		if _, err := f.ReadAt(magic[:], extMagicOffset); err != nil || int(magic[0])|int(magic[1])<<8 != extMagic {
			return badRootfs(value, "not an ext2/3/4 file system image")
		}
	}
	return nil
}
