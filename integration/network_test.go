package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/runuml/runuml/guest"
	"golang.org/x/sys/unix"
)

// netns is a network namespace made with `ip netns` for one test: eth0 inside, a veth to
// the host whose host end has the .1 address of 10.99.N.0/24 and eth0 the .2.
type netns struct {
	name, host, hostIP, guestIP, mac string
	hostIP6, guestIP6                string
}

func newNetns(t *testing.T, n int) *netns {
	t.Helper()
	// Named by our pid too: names are host-wide, and another suite may run beside this one.
	ns := &netns{name: fmt.Sprintf("runuml-it%d-%d", n, os.Getpid()), host: fmt.Sprintf("ruv%d-%d", n, os.Getpid()%100000),
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
	// IPv6 too, without duplicate address detection (its wait) on either side.
	ns.hostIP6, ns.guestIP6 = fmt.Sprintf("fd00:99:%d::1", n), fmt.Sprintf("fd00:99:%d::2", n)
	ip("addr", "add", ns.hostIP6+"/64", "dev", ns.host, "nodad")
	ip("-n", ns.name, "addr", "add", ns.guestIP6+"/64", "dev", "eth0", "nodad")
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

// serveDNS answers A queries for name with ip on 127.0.0.11:53 inside ns, where docker's
// embedded DNS server is for a container on a user-defined network.
func serveDNS(t *testing.T, ns *netns, name string, ip net.IP) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", ns.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	ready := make(chan net.PacketConn, 1)
	go func() {
		// The socket is made in ns by a thread that joined it and goes back before it is
		// unlocked: the thread may be the process's main one, which outlives the goroutine and
		// is what /proc/PID/ns/net shows.
		runtime.LockOSThread()
		var conn net.PacketConn
		back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			var fd int
			fd, err = unix.Open("/var/run/netns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				err = unix.Setns(fd, unix.CLONE_NEWNET)
				unix.Close(fd)
			}
			if err == nil {
				conn, err = net.ListenPacket("udp", "127.0.0.11:53")
				if rerr := unix.Setns(back, unix.CLONE_NEWNET); rerr != nil {
					panic(fmt.Sprintf("thread left in %s: %v", ns.name, rerr)) // never unlock it then
				}
				runtime.UnlockOSThread()
			}
			unix.Close(back)
		}
		if err != nil {
			t.Errorf("DNS server in %s: %v", ns.name, err)
		}
		ready <- conn
	}()
	conn := <-ready
	if conn == nil {
		t.FailNow()
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer := dnsAnswer(buf[:n], name, ip); answer != nil {
				conn.WriteTo(answer, from)
			}
		}
	}()
}

// dnsAnswer answers a one-question query: ip for an A query of name, no records otherwise.
func dnsAnswer(q []byte, name string, ip net.IP) []byte {
	if len(q) < 12 {
		return nil
	}
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := int(q[i+1])<<8 | int(q[i+2])
	a := append([]byte(nil), q[:i+5]...)
	a[2], a[3] = 0x81, 0x80 // a response, recursion available, no error
	a[8], a[9], a[10], a[11] = 0, 0, 0, 0
	if qtype == 1 && strings.Join(labels, ".") == name {
		a[6], a[7] = 0, 1
		a = append(a, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		a = append(a, ip.To4()...)
	} else {
		a[6], a[7] = 0, 0
	}
	return a
}

// TestNetworkNamespace wires the interface of a network namespace into the guest: the guest's
// eth0 has the namespace's MAC, IPv4 and IPv6 addresses and default route; the container
// fetches a page from a host server over both, serves one the host fetches, and resolves a name through the namespace's
// 127.0.0.11 (docker's embedded DNS); while it runs the namespace holds no
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
	ln6, err := net.Listen("tcp", "["+ns.hostIP6+"]:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln6)
	serveDNS(t, ns, "other.test", net.IPv4(10, 99, 41, 77))
	// The guest takes its IPv6 address over without duplicate address detection (netplug);
	// the retries are for a slow first neighbour discovery.
	script := fmt.Sprintf(`ip -o link show eth0; ip route; ip -6 -o addr show eth0; wget -q -O - http://%s/; echo;
		for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://%s/ && break; sleep 0.3; done; echo; nslookup other.test;
		mkdir /tmp/www && echo page-from-guest > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && sleep 100`, ln.Addr(), ln6.Addr())
	b := e.newBundle([]string{"sh", "-c", script}, withNetns(ns), func(s *specs.Spec) {
		s.Root.Readonly = false
	})
	b.writeFile(e, "etc/resolv.conf", "nameserver 127.0.0.11\n", 0o644)
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
	for _, want := range []string{ns.mac, "default via " + ns.hostIP + " dev eth0", "page-from-host\npage-from-host",
		ns.guestIP6 + "/64", "10.99.41.77"} {
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

// TestHostNetworkRefused: a spec without a network namespace, or naming the host's by path
// (docker --network host), is refused with a clear error, leaving nothing behind.
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
	// docker --network host names the host's namespace by a path of its own.
	byPath := e.newBundle([]string{"true"}, func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
			}
		}
	})
	e.cliFails("cannot share the host's", "create", "--bundle", byPath.Dir, "hostnet2")
}

// TestNetworkNamespaceShared: a second container in a network namespace whose interface a
// guest has taken (docker --network container:X) is refused with a clear error; once the
// first is gone, the namespace can be used again.
func TestNetworkNamespaceShared(t *testing.T) {
	e := newEnv(t)
	ns := newNetns(t, 42)
	a := e.create("nsa", e.newBundle([]string{"sleep", "100"}, withNetns(ns)))
	e.start(a)
	// The monitor opened the network device's sockets, so the kernel runs in a user
	// namespace of its own; a kernel without patch 0010 opens them itself, in the host's.
	if k, err := guest.FindKernel(""); err != nil {
		t.Error(err)
	} else if got := ownUserns(t, a.pid); got != k.RawFDs {
		t.Errorf("guest kernel with a network device: in a user namespace of its own %v, want %v (kernel rawfds)", got, k.RawFDs)
	}
	b := e.newBundle([]string{"true"}, withNetns(ns))
	e.clearLog()
	_, err := e.tryCreate("nsb", b)
	e.wantErr("create in a taken namespace", err, "cannot share a network namespace with another runuml container")
	if err := e.rc.Delete(e.ctx, "nsa", &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	if res := e.run("nsc", b, nil); res.err != nil {
		t.Errorf("run in the namespace after the first container: %v %s", res.err, res.stderr)
	}
}
