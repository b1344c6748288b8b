package hostfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ImageFreeMiB is the free room of an image made from a rootfs directory, on top of what its
// files take. The image is a sparse file: room the guest never writes costs no host disk.
const ImageFreeMiB = 1024

// Disk makes the container's disk in its state dir dir: for ubd an ext4 image of the rootfs
// directory, for an image a COW file over it. It returns the jail binds of the disk's files
// (the base image read-only) and the kernel's ubd argument; for hostfs, nothing.
func (r Rootfs) Disk(rootfs, dir string) ([]Bind, string, error) {
	own := filepath.Join(dir, imageFile)
	switch r.Mode {
	case ModeUbd:
		if err := MakeImage(rootfs, own); err != nil {
			return nil, "", err
		}
		return []Bind{{Source: own, Target: ImagePath}}, "ubd0=" + ImagePath, nil
	case ModeImage:
		if err := MakeCOW(own, r.Image, BasePath); err != nil {
			return nil, "", err
		}
		binds := []Bind{{Source: own, Target: ImagePath}, {Source: r.Image, Target: BasePath, ReadOnly: true}}
		return binds, "ubd0=" + ImagePath + "," + BasePath, nil
	}
	return nil, "", nil
}

// MakeImage makes dst, a new sparse file, an ext4 file system holding the tree at src, with
// room for ImageFreeMiB more. No journal: the image lives and dies with one guest.
func MakeImage(src, dst string) error {
	used, inodes, err := treeSize(src)
	if err != nil {
		return fmt.Errorf("rootfs image: %w", err)
	}
	// ext4 takes about 2% of a tree for metadata (block maps, directories, bitmaps), and a
	// 256-byte inode per file; an eighth is ample.
	const mib = 1 << 20
	size := (used + used/8 + inodes*256 + ImageFreeMiB*mib + mib - 1) / mib * mib
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("rootfs image: %w", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		err = f.Truncate(size)
		f.Close()
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("rootfs image: %w", err)
	}
	// As many inodes again as the tree has, plus mkfs's default share of the free room.
	args := []string{"-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
		"-N", fmt.Sprint(2*inodes + ImageFreeMiB*mib/16384),
		"-E", fmt.Sprintf("root_owner=%d:%d", st.Uid, st.Gid), "-d", src, dst}
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("rootfs image: mkfs.ext4 -d %s: %v: %s", src, err, strings.TrimSpace(string(out)))
	}
	// mkfs.ext4 -d gives the root 0755 and adds lost+found: the container's / is to look as the
	// directory does.
	script := fmt.Sprintf("sif / mode 0%o\n", uint32(unix.S_IFDIR)|st.Mode&0o7777)
	if _, err := os.Lstat(filepath.Join(src, "lost+found")); err != nil {
		script += "rmdir /lost+found\n"
	}
	cmd := exec.Command("debugfs", "-w", "-f", "-", dst)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("rootfs image: debugfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// treeSize returns the bytes the files under dir take, each rounded up to a 4 KiB block, and
// how many there are.
func treeSize(dir string) (bytes, files int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		bytes += (fi.Size() + 4095) &^ 4095
		return nil
	})
	return bytes, files, err
}

// UML's COW file format, version 3 (arch/um/drivers/cow_user.c): a big-endian header naming
// the backing file, a bitmap with a bit per sector (set: the sector is in the COW file), then
// the data at the backing file's offsets.
const (
	cowMagic      = 0x4f4f4f4d // "MOOO"
	cowVersion    = 3
	cowSector     = 512
	cowAlign      = 4096 // the guest's page size: UML makes its COW files so
	cowPathLen    = 4096
	cowHeaderSize = 32 + cowPathLen // magic, version, mtime, size (8), sector size, alignment, format; path
)

// MakeCOW makes path a new, empty COW file over the image base, which the guest kernel opens
// at guestBase. UML checks the base's size and modification time against the header, so a
// base changed afterwards is refused rather than read wrong.
func MakeCOW(path, base, guestBase string) error {
	fi, err := os.Stat(base)
	if err != nil {
		return fmt.Errorf("rootfs COW file: %w", err)
	}
	hdr, dataOffset := cowHeader(fi.Size(), uint32(fi.ModTime().Unix()), guestBase)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("rootfs COW file: %w", err)
	}
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Truncate(dataOffset + fi.Size())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("rootfs COW file: %w", err)
	}
	return nil
}

// cowHeader returns the header of a COW file over a backing file of size bytes modified at
// mtime, and the offset of its data.
func cowHeader(size int64, mtime uint32, backing string) ([]byte, int64) {
	be := binary.BigEndian
	hdr := make([]byte, cowHeaderSize)
	be.PutUint32(hdr[0:], cowMagic)
	be.PutUint32(hdr[4:], cowVersion)
	be.PutUint32(hdr[8:], mtime)
	be.PutUint64(hdr[12:], uint64(size))
	be.PutUint32(hdr[20:], cowSector)
	be.PutUint32(hdr[24:], cowAlign)
	be.PutUint32(hdr[28:], 0) // the bitmap format
	copy(hdr[32:], backing)
	bitmapOffset := roundUp(cowHeaderSize, cowAlign)
	bitmapLen := ((size+cowSector-1)/cowSector + 7) / 8
	return hdr, roundUp(bitmapOffset+bitmapLen, cowAlign)
}

func roundUp(n, align int64) int64 { return (n + align - 1) / align * align }
