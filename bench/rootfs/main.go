// Command rootfs compares the rootfs modes of the org.runuml.rootfs annotation: hostfs (the
// bundle's directory), ubd (an ext4 image of it made at create) and image:PATH (a shared base
// image under a COW file). It times create for a busybox and a Debian rootfs, and file work
// in the Debian guest: find over the tree, a 100 MiB write and read back with the guest's
// cache dropped, and a copy of /usr. It prints markdown.
//
// Run as root from the repository root: go run ./bench/rootfs. The Debian rootfs is the
// integration suite's debootstrap tar (integration/dockerd.DebianCache); without it only
// busybox is measured.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/bench/benchrt"
	"github.com/runuml/runuml/integration/dockerd"
)

// The guest's file work: each step prints its name and milliseconds.
const workload = `ms() { echo $(( $(date +%s%N) / 1000000 )); }
a=$(ms); n=$(find / -xdev | wc -l); b=$(ms); echo "find-$n $((b-a))"
a=$(ms); dd if=/dev/zero of=/root/f bs=1M count=100 conv=fsync 2>/dev/null; b=$(ms); echo "write $((b-a))"
sync; echo 3 > /proc/sys/vm/drop_caches
a=$(ms); dd if=/root/f of=/dev/null bs=1M 2>/dev/null; b=$(ms); echo "read $((b-a))"
a=$(ms); cp -a /usr /root/usr2 && sync; b=$(ms); echo "copy-usr $((b-a))"
rm -rf /root/f /root/usr2 # on hostfs the next run's tree must be as this one's
`

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement")
	flag.Parse()
	if err := bench(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench/rootfs:", err)
		os.Exit(1)
	}
}

type tree struct {
	name, rootfs, base string // base: an ext4 image of rootfs
	mkfs               time.Duration
}

func bench(runs int) error {
	b, err := benchrt.Start("rootfs", "runuml")
	if err != nil {
		return err
	}
	defer b.Cleanup()
	rts, err := b.Runtimes("runuml", "")
	if err != nil {
		return err
	}
	rt, work := rts[0], b.Work
	trees := []*tree{{name: "busybox", rootfs: filepath.Join(work, "busybox", "rootfs")}}
	if err := busybox(trees[0].rootfs); err != nil {
		return err
	}
	if _, err := os.Stat(dockerd.DebianCache); err == nil {
		deb := &tree{name: "debian", rootfs: filepath.Join(work, "debian", "rootfs")}
		os.MkdirAll(deb.rootfs, 0o755)
		if out, err := exec.Command("tar", "-C", deb.rootfs, "-xf", dockerd.DebianCache).CombinedOutput(); err != nil {
			return fmt.Errorf("untar %s: %v: %s", dockerd.DebianCache, err, out)
		}
		trees = append(trees, deb)
	}
	for _, t := range trees {
		t.base = filepath.Join(work, t.name+".img")
		start := time.Now()
		if out, err := exec.Command("mkfs.ext4", "-q", "-O", "^has_journal", "-d", t.rootfs, t.base, "2G").CombinedOutput(); err != nil {
			return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
		}
		t.mkfs = time.Since(start)
	}
	modes := func(t *tree) []string { return []string{"hostfs", "ubd", "image:" + t.base} }

	fmt.Printf("## rootfs modes (median of %d; %s)\n\n", runs, time.Now().UTC().Format(time.DateTime))
	fmt.Println("| rootfs | mode | create | disk in the state dir after create |")
	fmt.Println("|---|---|---|---|")
	for _, t := range trees {
		for _, mode := range modes(t) {
			bundle, err := makeBundle(work, t, mode, []string{"true"})
			if err != nil {
				return err
			}
			var times []float64
			var disk int64
			for range runs {
				id := rt.NewID()
				el, err := rt.Call(time.Minute, nil, nil, "create", "--bundle", bundle, id)
				if err != nil {
					return err
				}
				times = append(times, float64(el.Microseconds())/1000)
				disk = allocated(filepath.Join(work, "root-runuml", id, "rootfs.img"))
				rt.ForceDelete(id)
			}
			fmt.Printf("| %s | %s | %.0f ms | %.1f MiB |\n", t.name, shortMode(mode), benchrt.Median(times), float64(disk)/(1<<20))
		}
	}
	deb := trees[len(trees)-1]
	if deb.name != "debian" {
		return nil
	}
	fmt.Printf("\nmkfs.ext4 -d of the trees (2G, no journal): busybox %.0f ms, debian %.0f ms\n\n",
		float64(trees[0].mkfs.Microseconds())/1000, float64(deb.mkfs.Microseconds())/1000)
	fmt.Println("| Debian guest, mode | find / (files) | 100 MiB write + fsync | read back, guest cache dropped | cp -a /usr |")
	fmt.Println("|---|---|---|---|---|")
	for _, mode := range modes(deb) {
		bundle, err := makeBundle(work, deb, mode, []string{"bash", "-c", workload})
		if err != nil {
			return err
		}
		res := map[string][]float64{}
		var files string
		for range runs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			out, err := rt.Command(ctx, "run", "--bundle", bundle, rt.NewID()).CombinedOutput()
			cancel()
			if err != nil {
				return fmt.Errorf("run %s: %v: %s", mode, err, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(line, " ")
				if n, ok := strings.CutPrefix(k, "find-"); ok {
					k, files = "find", n
				}
				ms, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("run %s: output %q", mode, out)
				}
				res[k] = append(res[k], ms)
			}
		}
		m := func(k string) float64 { return benchrt.Median(res[k]) }
		fmt.Printf("| %s | %.0f ms (%s) | %.0f ms (%.0f MB/s) | %.0f ms (%.0f MB/s) | %.0f ms |\n", shortMode(mode),
			m("find"), files, m("write"), 104.9/m("write")*1000, m("read"), 104.9/m("read")*1000, m("copy-usr"))
	}
	return nil
}

func shortMode(mode string) string {
	if strings.HasPrefix(mode, "image:") {
		return "image (COW)"
	}
	return mode
}

// allocated is the disk a file takes, 0 if there is none.
func allocated(path string) int64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

// busybox makes a busybox-static rootfs at dir with the applets the workload uses.
func busybox(dir string) error {
	if err := benchrt.Busybox(dir, "sh", "true", "dd", "find", "cp", "date", "wc", "sync"); err != nil {
		return err
	}
	for _, d := range []string{"etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// makeBundle writes a bundle for t's rootfs in mode running args, as root with
// CAP_SYS_ADMIN and a writable /proc/sys (the workload drops the guest's caches).
func makeBundle(work string, t *tree, mode string, args []string) (string, error) {
	dir := filepath.Join(work, fmt.Sprintf("bundle-%s-%s-%d", t.name, shortMode(mode)[:3], len(args)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	caps := []string{"CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER"}
	spec := specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}},
		Root:        &specs.Root{Path: t.rootfs},
		Annotations: map[string]string{"org.runuml.rootfs": mode},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace},
			{Type: specs.NetworkNamespace}, {Type: specs.MountNamespace}}},
	}
	data, err := json.Marshal(&spec)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}
