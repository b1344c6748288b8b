package benchrt

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine describes this host for a report's header: "N CPUs (nproc), host kernel RELEASE,
// TIME", the time now in UTC.
func Machine() string {
	var u unix.Utsname
	unix.Uname(&u)
	return fmt.Sprintf("%d CPUs (nproc), host kernel %s, %s", runtime.NumCPU(),
		unix.ByteSliceToString(u.Release[:]), time.Now().UTC().Format(time.RFC3339))
}

// Version is what `bin --version` prints, on one line: its lines joined with "; ".
func Version(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	v := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n", "; ")), " ")
	return strings.TrimSuffix(v, ";")
}

// PrintVersions prints "- NAME: VERSION" for each runtime, once per binary: a runuml variant
// is the same runuml.
func PrintVersions(rts []*Runtime) {
	seen := map[string]bool{}
	for _, rt := range rts {
		if !seen[rt.Bin] {
			seen[rt.Bin] = true
			fmt.Printf("- %s: %s\n", rt.Name, Version(rt.Bin))
		}
	}
}

// logTimeRE is the timestamp of a runtime's logrus line.
var logTimeRE = regexp.MustCompile(`time="[^"]*" `)

// PrintFailures prints the report's section on the attempts that failed and were retried
// (Runtime.Attempt), each message once with its count. Container ids, the work dir and log
// timestamps differ per attempt and would split one cause into many: they are written as ID
// and TMP, or left out.
func PrintFailures(rts []*Runtime) { writeFailures(os.Stdout, rts) }

func writeFailures(w io.Writer, rts []*Runtime) {
	fmt.Fprintln(w, "## Failed attempts (retried with a fresh container, not in the numbers above)")
	fmt.Fprintln(w)
	for _, rt := range rts {
		fmt.Fprintf(w, "- %s: %d\n", rt.Name, len(rt.Fails))
		idRE := regexp.MustCompile(regexp.QuoteMeta(rt.idPrefix()) + "[0-9]+")
		count := map[string]int{}
		var order []string
		for _, f := range rt.Fails {
			f = idRE.ReplaceAllString(strings.ReplaceAll(f, rt.work, "TMP"), "ID")
			f = logTimeRE.ReplaceAllString(f, "")
			if count[f] == 0 {
				order = append(order, f)
			}
			count[f]++
		}
		for _, f := range order {
			fmt.Fprintf(w, "  - %d× `%s`\n", count[f], strings.ReplaceAll(f, "`", "'"))
		}
	}
	fmt.Fprintln(w)
}
