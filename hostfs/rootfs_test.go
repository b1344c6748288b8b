package hostfs

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runuml/runuml/oci"
)

func TestParseRootfs(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  Rootfs
		err   string
	}{
		{"", Rootfs{Mode: ModeHostfs}, ""},
		{"hostfs", Rootfs{Mode: ModeHostfs}, ""},
		{"ubd", Rootfs{Mode: ModeUbd}, ""},
		{"image:/srv/base.img", Rootfs{Mode: ModeImage, Image: "/srv/base.img"}, ""},
		{"image:/srv//x/../base.img", Rootfs{Mode: ModeImage, Image: "/srv/base.img"}, ""},
		{"image:base.img", Rootfs{}, "must be absolute"},
		{"image:", Rootfs{}, "must be absolute"},
		{"UBD", Rootfs{}, `want "hostfs", "ubd"`},
		{"nfs", Rootfs{}, `want "hostfs", "ubd"`},
	} {
		got, err := ParseRootfs(map[string]string{AnnotationRootfs: tc.value})
		if tc.err != "" {
			if err == nil || !errors.Is(err, oci.ErrBadConfig) || !strings.Contains(err.Error(), tc.err) ||
				!strings.Contains(err.Error(), AnnotationRootfs) {
				t.Errorf("%q: error %v, want one naming the annotation and %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.value, got, err, tc.want)
		}
	}
}

func TestCheckImage(t *testing.T) {
	dir := t.TempDir()
	notExt := filepath.Join(dir, "zeros.img")
	if err := os.WriteFile(notExt, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	ext := filepath.Join(dir, "ext.img")
	data := make([]byte, 4096)
	binary.LittleEndian.PutUint16(data[extMagicOffset:], extMagic)
	if err := os.WriteFile(ext, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		notExt:                         "not an ext2/3/4",
		dir:                            "not a regular file",
		filepath.Join(dir, "none.img"): "no such file",
		ext:                            "",
	} {
		err := Rootfs{Mode: ModeImage, Image: path}.Check()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

// The COW header as UML's cow_user.c lays out version 3, and the data offset it computes.
func TestCOWHeader(t *testing.T) {
	hdr, data := cowHeader(1<<30, 1700000000, BasePath)
	be := binary.BigEndian
	if len(hdr) != 4128 || be.Uint32(hdr) != 0x4f4f4f4d || be.Uint32(hdr[4:]) != 3 ||
		be.Uint32(hdr[8:]) != 1700000000 || be.Uint64(hdr[12:]) != 1<<30 ||
		be.Uint32(hdr[20:]) != 512 || be.Uint32(hdr[24:]) != 4096 || be.Uint32(hdr[28:]) != 0 {
		t.Errorf("header fields % x", hdr[:32])
	}
	if got := strings.TrimRight(string(hdr[32:]), "\x00"); got != BasePath {
		t.Errorf("backing file %q", got)
	}
	// Bitmap at 8192 (the header rounded to 4096), 1 GiB / 512 / 8 = 256 KiB long.
	if data != 8192+256*1024 {
		t.Errorf("data offset %d", data)
	}
	if _, data := cowHeader(1000, 0, BasePath); data != 12288 {
		t.Errorf("data offset of a small image %d, want 12288", data)
	}
}

// MakeImage copies the tree with its owners, modes and special files, and the image's root
// is the directory's (mode and owner), with no lost+found the tree lacks.
func TestMakeImage(t *testing.T) {
	if _, err := exec.LookPath("debugfs"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and e2fsprogs")
	}
	src := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(src, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "etc", "f"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(src, "etc", "f"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "etc", "f"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "rootfs.img")
	if err := MakeImage(src, img); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-R", "ls -l /", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	ls := string(out)
	if !strings.Contains(ls, " 40750 (2)      0      0") || strings.Contains(ls, "lost+found") || !strings.Contains(ls, " etc") {
		t.Errorf("image root:\n%s", ls)
	}
	out, _ = exec.Command("debugfs", "-R", "ls -l /etc", img).Output()
	if !strings.Contains(string(out), "104755 (1)   1000   1001") {
		t.Errorf("image /etc:\n%s", out)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() < ImageFreeMiB<<20 {
		t.Errorf("image size: %v", err)
	}
}
