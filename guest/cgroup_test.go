package guest

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/oci"
)

func TestHostResources(t *testing.T) {
	const mib = 1 << 20
	head := int64(MemoryHeadroomMiB) * mib
	i64 := func(v int64) *int64 { return &v }
	mem := func(m specs.LinuxMemory) *specs.LinuxResources { return &specs.LinuxResources{Memory: &m} }
	for _, tc := range []struct {
		name      string
		in        *specs.LinuxResources
		create    bool
		guestMiB  int    // 256 if 0
		limit     *int64 // host memory limit; nil: not set
		swap      *int64
		pids      *int64
		wantError string
	}{
		{name: "create without resources: guest RAM plus headroom", create: true, limit: i64(256*mib + head)},
		{name: "create with the limit", in: mem(specs.LinuxMemory{Limit: i64(128 * mib)}), create: true, guestMiB: 128, limit: i64(128*mib + head)},
		{name: "create with swap", in: mem(specs.LinuxMemory{Limit: i64(128 * mib), Swap: i64(256 * mib)}), create: true,
			guestMiB: 128, limit: i64(128*mib + head), swap: i64(256*mib + head)},
		{name: "create, annotation RAM above the limit", in: mem(specs.LinuxMemory{Limit: i64(64 * mib)}), create: true, limit: i64(256*mib + head)},
		{name: "update without memory", in: &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "1"}}},
		{name: "update raises the limit", in: mem(specs.LinuxMemory{Limit: i64(512 * mib)}), limit: i64(512*mib + head)},
		{name: "update to no limit", in: mem(specs.LinuxMemory{Limit: i64(-1)}), limit: i64(-1)},
		{name: "update below the guest's RAM", in: mem(specs.LinuxMemory{Limit: i64(128 * mib)}), wantError: "(128 MiB) is below the 256 MiB"},
		{name: "swap below the limit", in: mem(specs.LinuxMemory{Limit: i64(512 * mib), Swap: i64(300 * mib)}), wantError: oci.ErrBadConfig.Error()},
		{name: "pids limit", in: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}}, pids: i64(10 + PidsHeadroom)},
		{name: "no pids limit", in: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, pids: i64(-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.guestMiB == 0 {
				tc.guestMiB = 256
			}
			out, err := hostResources(tc.in, tc.guestMiB, tc.create)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantError)
				}
				if errors.Is(err, oci.ErrBadConfig) != strings.Contains(tc.wantError, "invalid") {
					t.Errorf("error %v: wrong sentinel", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var limit, swap, pids *int64
			if out.Memory != nil {
				limit, swap = out.Memory.Limit, out.Memory.Swap
			}
			if out.Pids != nil {
				pids = out.Pids.Limit
			}
			for _, c := range []struct {
				what      string
				got, want *int64
			}{{"memory limit", limit, tc.limit}, {"swap", swap, tc.swap}, {"pids", pids, tc.pids}} {
				if (c.got == nil) != (c.want == nil) || c.got != nil && *c.got != *c.want {
					t.Errorf("%s: got %v, want %v", c.what, deref(c.got), deref(c.want))
				}
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCgroupPath(t *testing.T) {
	store := oci.Store{Root: "/run/runuml"}
	for _, tc := range []struct{ cgroupsPath, want string }{
		{"", "/runuml/c1-"},
		{"/default/c1", "/default/c1"},
		{"kubepods/c1", "/kubepods/c1"},
		{"system.slice:docker:c1", "/system.slice/docker-c1.scope"},
		{":cri-containerd:c1", "/system.slice/cri-containerd-c1.scope"},
		{"kubepods-besteffort-pod12.slice:cri-containerd:c1", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-c1.scope"},
		{"user.slice::c1", "/user.slice/c1.scope"},
		{"system.slice:docker:my.slice", "/system.slice/my.slice"},
	} {
		spec := &specs.Spec{Linux: &specs.Linux{CgroupsPath: tc.cgroupsPath}}
		if got := cgroupPath(store, "c1", spec); !strings.HasPrefix(got, tc.want) {
			t.Errorf("cgroupsPath %q: path %q, want %q...", tc.cgroupsPath, got, tc.want)
		}
	}
}
