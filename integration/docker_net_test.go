package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// httpdArgs run busybox httpd in the foreground serving page as /index.html.
func httpdArgs(page string) []string {
	return []string{"sh", "-c", fmt.Sprintf("mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 80 -h /www", page)}
}

// fetch gets url from the host until it answers or waitTimeout passes; it returns the body.
func fetch(t *testing.T, url string) string {
	t.Helper()
	var err error
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = (&http.Client{Timeout: 2 * time.Second}).Get(url); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(data)
		}
	}
	t.Errorf("GET %s from the host: %v", url, err)
	return ""
}

// wget fetches url from inside container id until it answers or waitTimeout passes. Bounded
// by timeout(1): Debian's busybox 1.35 wget crashes (SIGSEGV) with -T.
func (d dockerT) wget(id, url string) string {
	d.t.Helper()
	var out, stderr string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var status int
		if out, stderr, status = d.status(nil, "exec", id, "timeout", "5", "wget", "-q", "-O", "-", url); status == 0 {
			return out
		}
	}
	d.t.Errorf("wget %s in %.12s: %q %q", url, id, out, stderr)
	return ""
}

// TestDockerPublish: `docker run -p 127.0.0.1:PORT:80` on docker's bridge serves a page the
// host fetches over loopback (docker-proxy) and at the container's bridge address.
func TestDockerPublish(t *testing.T) {
	d := newDocker(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("page-from-uml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	id := d.start("-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-v", dir+":/www:ro", testImage, "httpd", "-f", "-p", "80", "-h", "/www")
	if got := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "page-from-uml\n" {
		t.Errorf("published port 127.0.0.1:%d served %q", port, got)
	}
	ip := d.inspect(id, "{{.NetworkSettings.IPAddress}}")
	if _, subnet, _ := net.ParseCIDR(d.Subnet); !subnet.Contains(net.ParseIP(ip)) {
		t.Fatalf("container address %q is not in the bridge's %s", ip, d.Subnet)
	}
	if got := fetch(t, "http://"+ip+"/"); got != "page-from-uml\n" {
		t.Errorf("the container's bridge address %s served %q", ip, got)
	}
}

// freePort returns a TCP port free on the host's loopback.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDockerGateway: a container on docker's bridge fetches a page from a server on the
// bridge's gateway address, through its default route.
func TestDockerGateway(t *testing.T) {
	d := newDocker(t)
	ln, err := net.Listen("tcp", d.Gateway.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "page-from-gateway")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	out := d.ok("run", "--rm", "--runtime=uml", testImage, "sh", "-c", "ip route; timeout 10 wget -q -O - http://"+ln.Addr().String()+"/")
	for _, want := range []string{"default via " + d.Gateway.String() + " dev eth0", "page-from-gateway"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
}

// TestDockerUserNetwork: on a user-defined network two containers reach each other by name
// (docker's embedded DNS, relayed into the guests) and by address, both ways.
func TestDockerUserNetwork(t *testing.T) {
	d := newDocker(t)
	netName := "runuml-test-net"
	d.ok("network", "create", netName)
	t.Cleanup(func() { d.docker(nil, "network", "rm", netName) })
	ids, ips := map[string]string{}, map[string]string{}
	for _, name := range []string{"uml-a", "uml-b"} {
		ids[name] = d.start(append([]string{"--network", netName, "--name", name, testImage}, httpdArgs("page-from-"+name)...)...)
		ips[name] = d.inspect(ids[name], "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	}
	for _, c := range [][2]string{{"uml-a", "uml-b"}, {"uml-b", "uml-a"}} {
		from, to := c[0], c[1]
		for _, host := range []string{to, ips[to]} {
			if got := d.wget(ids[from], "http://"+host+"/"); got != "page-from-"+to+"\n" {
				t.Errorf("%s fetched %q from http://%s/", from, got, host)
			}
		}
		if out := d.ok("exec", ids[from], "nslookup", to); !strings.Contains(out, ips[to]) {
			t.Errorf("nslookup %s in %s does not give %s:\n%s", to, from, ips[to], out)
		}
	}
}

// TestDockerNetworkNone: --network none gives the guest only lo.
func TestDockerNetworkNone(t *testing.T) {
	d := newDocker(t)
	if got := d.run(testImage, "sh", "-c", "ip -o link | cut -d: -f2"); got != " lo\n" {
		t.Errorf("--network none: interfaces %q, want only lo", got)
	}
}

// TestDockerNetworkContainer: --network container:X would share X's network stack, which is
// X's guest kernel's: another guest cannot share it, so runuml refuses with a clear error
// rather than start a guest without a working network. X is unharmed.
func TestDockerNetworkContainer(t *testing.T) {
	d := newDocker(t)
	x := d.start(append([]string{testImage}, httpdArgs("page-from-x")...)...)
	_, stderr, status := d.status(nil, "run", "--rm", "--runtime=uml", "--network", "container:"+x, testImage, "ip", "addr")
	if status == 0 || !strings.Contains(stderr, "cannot share a network namespace") {
		t.Errorf("--network container:X: status %d, stderr %q; want a refusal", status, stderr)
	}
	ip := d.inspect(x, "{{.NetworkSettings.IPAddress}}")
	if got := fetch(t, "http://"+ip+"/"); got != "page-from-x\n" {
		t.Errorf("after the refusal, X served %q", got)
	}
}

// TestDockerNetworkHost: --network host is refused with runuml's error: a guest has its own
// network stack.
func TestDockerNetworkHost(t *testing.T) {
	d := newDocker(t)
	_, stderr, status := d.status(nil, "run", "--rm", "--runtime=uml", "--network", "host", testImage, "true")
	if status == 0 || !strings.Contains(stderr, "docker --network host is not supported") {
		t.Errorf("--network host: status %d, stderr %q; want runuml's refusal", status, stderr)
	}
}
