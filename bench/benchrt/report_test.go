package benchrt

import (
	"strings"
	"testing"
)

func TestWriteFailures(t *testing.T) {
	work := t.TempDir()
	rt, err := newRuntime("runuml gro=false", "runuml", work)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.stderr.Close()
	other, err := newRuntime("runc", "runc", work)
	if err != nil {
		t.Fatal(err)
	}
	defer other.stderr.Close()
	for range 2 {
		id := rt.NewID()
		rt.Fails = append(rt.Fails, "runuml gro=false run --bundle "+work+"/bundle "+id+
			`: exit status 1: time="2026-01-02T03:04:05Z" level=error msg="container `+id+` timed out"`)
	}
	rt.Fails = append(rt.Fails, "host → container: `tcpbench` exit status 1")
	var b strings.Builder
	writeFailures(&b, []*Runtime{rt, other})
	want := "## Failed attempts (retried with a fresh container, not in the numbers above)\n\n" +
		"- runuml gro=false: 3\n" +
		"  - 2× `runuml gro=false run --bundle TMP/bundle ID: exit status 1: level=error msg=\"container ID timed out\"`\n" +
		"  - 1× `host → container: 'tcpbench' exit status 1`\n" +
		"- runc: 0\n\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
