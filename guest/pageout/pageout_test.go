package pageout

import (
	"os"
	"testing"
)

func TestParseMapsLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want addrRange
		ok   bool
	}{
		{"00400000-00819000 r-xp 00000000 fe:00 9979498    /usr/local/bin/runuml", addrRange{0x400000, 0x819000}, true},
		{"00819000-00d03000 r--p 00419000 fe:00 9979498    /usr/local/bin/runuml", addrRange{0x819000, 0xd03000}, true},
		{"60001000-6077c000 r-xp 00001000 fe:00 843790     /runuml/linux", addrRange{0x60001000, 0x6077c000}, true},
		// Written data, shared memory (the guest's RAM file), anonymous memory, the vdso.
		{"00d03000-00d3a000 rw-p 00903000 fe:00 9979498    /usr/local/bin/runuml", addrRange{}, false},
		{"61000000-70000000 rwxs 01000000 00:29 3          /tmp/#3 (deleted)", addrRange{}, false},
		{"006ec000-00711000 r-xs 0fa76000 00:29 3          /tmp/#3 (deleted)", addrRange{}, false},
		{"7f0933e2b000-7f0933e9d000 rw-p 00000000 00:00 0 ", addrRange{}, false},
		{"7ffd3a1f0000-7ffd3a1f2000 r-xp 00000000 00:00 0  [vdso]", addrRange{}, false},
		{"garbage", addrRange{}, false},
		{"0040-zz r-xp 00000000 fe:00 1 /bin/x", addrRange{}, false},
	} {
		got, ok := parseMapsLine(c.line)
		if ok != c.ok || got != c.want {
			t.Errorf("parseMapsLine(%q) = %v, %v; want %v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestProcessSelf pages out this test binary's code: the call must succeed and advise at least
// the text segment.
func TestProcessSelf(t *testing.T) {
	ranges, err := readOnlyFileRanges(os.Getpid())
	if err != nil || len(ranges) == 0 {
		t.Fatalf("readOnlyFileRanges: %v, %v", ranges, err)
	}
	n, err := Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < int(ranges[0].end-ranges[0].start) {
		t.Errorf("advised %d bytes, less than the first range %v", n, ranges[0])
	}
}
