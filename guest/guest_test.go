package guest

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestArgs(t *testing.T) {
	b := Boot{MemMiB: 128, Init: "/runuml/init", LineFD: 3, LogFD: 2}
	seccomp := Kernel{Seccomp: true}.Args(b)
	ptrace := Kernel{}.Args(b)
	for _, want := range []string{"mem=128M", "init=/runuml/init", "ssl1=fd:3", "con0=null,fd:2", "rootfstype=hostfs", "rootflags=/", "uml_dir=/tmp",
		"dhash_entries=2048", "ihash_entries=1024", "page_reporting.page_reporting_order=3"} {
		if !slices.Contains(seccomp, want) || !slices.Contains(ptrace, want) {
			t.Errorf("%q missing: %v", want, seccomp)
		}
	}
	if !slices.Contains(seccomp, "seccomp=on") || slices.Contains(ptrace, "seccomp=on") {
		t.Errorf("seccomp=on belongs only to a seccomp kernel: %v / %v", seccomp, ptrace)
	}
	if !strings.Contains(strings.Join(ptrace, " "), "initcall_blacklist=raid6_select_algo") {
		t.Errorf("6.1 tuning missing: %v", ptrace)
	}
}

func TestMemoryMiB(t *testing.T) {
	limit := func(n int64) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &n}}}}
	}
	annot := func(v string) *specs.Spec { return &specs.Spec{Annotations: map[string]string{AnnotationMemory: v}} }
	for _, tc := range []struct {
		name string
		spec *specs.Spec
		want int
		ok   bool
	}{
		{"default", &specs.Spec{}, DefaultMemoryMiB, true},
		{"limit", limit(128 << 20), 128, true},
		{"annotation", annot("1G"), 1024, true},
		{"annotation wins", func() *specs.Spec { s := limit(128 << 20); s.Annotations = annot("64M").Annotations; return s }(), 64, true},
		{"too small", annot("8M"), 0, false},
		{"garbage", annot("lots"), 0, false},
	} {
		got, err := MemoryMiB(tc.spec)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%s: %d, %v; want %d ok=%v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5")
	if err != nil || len(got) != 4 || !got[0] || !got[2] || !got[5] || got[3] {
		t.Errorf("0-2,5: %v %v", got, err)
	}
	for _, bad := range []string{"x", "3-1", "1-"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
