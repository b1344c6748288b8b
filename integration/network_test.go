package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netns is a network namespace made with `ip netns` for one test: eth0 inside, a veth to
// the host whose host end has the .1 address of 10.99.N.0/24 and eth0 the .2.
type netns struct {
	name, host, hostIP, guestIP, mac string
}

func newNetns(t *testing.T, n int) *netns {
	t.Helper()
	ns := &netns{name: fmt.Sprintf("runuml-it%d", n), host: fmt.Sprintf("ruv%d", n),
		hostIP: fmt.Sprintf("10.99.%d.1", n), guestIP: fmt.Sprintf("10.99.%d.2", n)}
	ip := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ip("netns", "add", ns.name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", ns.host).Run()
		exec.Command("ip", "netns", "del", ns.name).Run()
	})
	ip("link", "add", ns.host, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
	ip("addr", "add", ns.hostIP+"/24", "dev", ns.host)
	ip("link", "set", ns.host, "up")
	ip("-n", ns.name, "addr", "add", ns.guestIP+"/24", "dev", "eth0")
	ip("-n", ns.name, "link", "set", "eth0", "up")
	ip("-n", ns.name, "route", "add", "default", "via", ns.hostIP)
	ns.mac = strings.Fields(strings.SplitAfter(ip("-n", ns.name, "-o", "link", "show", "eth0"), "link/ether ")[1])[0]
	return ns
}

func (ns *netns) addrs(t *testing.T) string {
	out, _ := exec.Command("ip", "-n", ns.name, "-4", "-o", "addr", "show", "eth0").CombinedOutput()
	return string(out)
}

// withNetns puts the container in ns.
func withNetns(ns *netns) func(*specs.Spec) {
	return func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/var/run/netns/" + ns.name
			}
		}
	}
}

// TestNetworkNamespace wires the interface of a network namespace into the guest: the guest's
// eth0 has the namespace's MAC, address and default route; the container fetches a page from
// a host server and serves one the host fetches; while it runs the namespace holds no
// address, and it gets its address back after.
func TestNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	ns := newNetns(t, 41)
	ln, err := net.Listen("tcp", ns.hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "page-from-host")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	script := fmt.Sprintf(`ip -o link show eth0; ip route; wget -q -O - http://%s/; echo;
		mkdir /tmp/www && echo page-from-guest > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && sleep 100`, ln.Addr())
	b := e.newBundle([]string{"sh", "-c", script}, withNetns(ns), func(s *specs.Spec) {
		s.Root.Readonly = false
	})
	r := e.startRun("net", b, nil)
	var body string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + ns.guestIP + ":8080/"); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(data)
			break
		}
	}
	if body != "page-from-guest\n" {
		t.Errorf("the host fetched %q from the guest's httpd, want %q", body, "page-from-guest\n")
	}
	if a := ns.addrs(t); strings.Contains(a, ns.guestIP) {
		t.Errorf("the namespace still holds the guest's address while the guest runs: %s", a)
	}
	e.rc.Kill(e.ctx, "net", 9, nil)
	res := r.wait()
	out := string(res.stdout)
	for _, want := range []string{ns.mac, "default via " + ns.hostIP + " dev eth0", "page-from-host"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s%s", want, out, res.stderr)
		}
	}
	if a := ns.addrs(t); !strings.Contains(a, ns.guestIP+"/24") {
		t.Errorf("after the container the namespace has %q, want its address back", a)
	}
}

// TestNetworkNone: a new network namespace (docker --network none) gives the guest only a
// working lo.
func TestNetworkNone(t *testing.T) {
	e := newEnv(t)
	script := `ip -o link | cut -d: -f2; mkdir /tmp/w && echo local-ok > /tmp/w/i && httpd -p 127.0.0.1:81 -h /tmp/w && wget -q -O - http://127.0.0.1:81/i`
	res := e.run("none", e.newBundle([]string{"sh", "-c", script}, func(s *specs.Spec) { s.Root.Readonly = false }), nil)
	if res.err != nil || string(res.stdout) != " lo\nlocal-ok\n" {
		t.Errorf("run: %v, stdout %q, stderr %q; want only lo, and a page over it", res.err, res.stdout, res.stderr)
	}
}

// TestHostNetworkRefused: a spec without a network namespace (docker --network host) is
// refused with a clear error, leaving nothing behind.
func TestHostNetworkRefused(t *testing.T) {
	e := newEnv(t)
	b := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		var kept []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace {
				kept = append(kept, n)
			}
		}
		s.Linux.Namespaces = kept
	})
	e.cliFails("no network namespace", "create", "--bundle", b.Dir, "hostnet")
}
