// Package netplug carries the container's network into its guest. The monitor lives in the
// container's network namespace (a new one, or the spec's path); once the hooks have set it
// up (docker and CNI put a veth there), Take hands every interface in it but lo to the guest:
// the kernel gets a vector device on a raw socket bound to the interface, the guest's
// interface gets the same name, MAC, MTU, addresses and routes, and the namespace's own
// addresses are flushed so its kernel never answers in the guest's place. A taken interface
// is marked with the taker's pid (its alias), so a second guest in the same namespace
// (docker --network container:X) is refused instead of getting a dead copy of the interface.
package netplug

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config is the guest's network, as the agent applies it.
type Config struct {
	Interfaces []Interface `json:"interfaces,omitempty"`
}

// Interface is one interface of the container's network namespace. The guest's vector
// device N is Interfaces[N].
type Interface struct {
	Name   string   `json:"name"`
	MAC    string   `json:"mac"`
	MTU    int      `json:"mtu"`
	Addrs  []string `json:"addrs,omitempty"` // CIDR
	Routes []Route  `json:"routes,omitempty"`
}

// Route is a route through an interface; an empty Dst is the default route.
type Route struct {
	Dst string `json:"dst,omitempty"`
	Gw  string `json:"gw,omitempty"`
	Src string `json:"src,omitempty"`
}

// Options tune the vector transport (annotations org.runuml.net.*).
type Options struct {
	Depth int  // packets per vector read/write (UML's default 64)
	GRO   bool // receive offloaded large packets (needed for full TCP speed)
	// FD, when positive, has Take open each device's two packet sockets (rx bound to every
	// protocol, tx to none, as UML opens them), for a kernel without CAP_NET_RAW over this
	// namespace (one in a user namespace of its own): device N is given them as fds FD+2N
	// and FD+2N+1 (rxfd= and txfd=, kernel patch 0010).
	FD int
}

// Take reads the interfaces of the current network namespace, flushes their addresses, marks
// them as this process's, and returns the guest's network and the kernel arguments that give it the
// devices, and with o.FD the sockets the kernel must get as those fds.
func Take(o Options) (cfg *Config, args []string, socks []*os.File, err error) {
	var opened []*os.File // closed on any error, whatever a return names
	defer func() {
		if err != nil {
			for _, f := range opened {
				f.Close()
			}
		}
	}()
	links, err := netlink.LinkList()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("network: list interfaces: %w", err)
	}
	// Read everything first, then change the namespace; a failure puts back what was taken.
	cfg = &Config{}
	var taken []netlink.Link
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 {
			continue
		}
		if err := checkFree(l); err != nil {
			return nil, nil, nil, err
		}
		iface := Interface{Name: a.Name, MAC: a.HardwareAddr.String(), MTU: a.MTU}
		if iface.Routes, err = routes(l); err != nil {
			return nil, nil, nil, err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("network: %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if !ad.IP.IsLinkLocalUnicast() { // the guest makes its own from the same MAC
				iface.Addrs = append(iface.Addrs, ad.IPNet.String())
			}
		}
		cfg.Interfaces = append(cfg.Interfaces, iface)
		taken = append(taken, l)
	}
	if o.FD > 0 {
		for _, l := range taken {
			for _, proto := range []uint16{unix.ETH_P_ALL, 0} {
				f, err := packetSocket(l, proto)
				if err != nil {
					return nil, nil, nil, err
				}
				opened = append(opened, f)
			}
		}
	}
	for i, l := range taken {
		if err := take(l, cfg.Interfaces[i]); err != nil {
			Restore(cfg)
			return nil, nil, nil, fmt.Errorf("network: %s: %w", l.Attrs().Name, err)
		}
		arg := vectorArg(i, cfg.Interfaces[i], o)
		if o.FD > 0 {
			arg += fmt.Sprintf(",rxfd=%d,txfd=%d", o.FD+2*i, o.FD+2*i+1)
		}
		args = append(args, arg)
	}
	return cfg, args, opened, nil
}

// packetSocket opens a raw packet socket bound to l and receiving proto (0: nothing).
func packetSocket(l netlink.Link, proto uint16) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network: %s: packet socket: %w", l.Attrs().Name, err)
	}
	// The protocol in network byte order.
	sa := &unix.SockaddrLinklayer{Protocol: proto<<8 | proto>>8, Ifindex: l.Attrs().Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("network: %s: bind packet socket: %w", l.Attrs().Name, err)
	}
	return os.NewFile(uintptr(fd), "packet:"+l.Attrs().Name), nil
}

// take flushes the interface's addresses, brings it up and marks it as this process's.
func take(l netlink.Link, iface Interface) error {
	for _, a := range iface.Addrs {
		addr, err := netlink.ParseAddr(a)
		if err == nil {
			err = netlink.AddrDel(l, addr)
		}
		if err != nil {
			return fmt.Errorf("flush %s: %w", a, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	return netlink.LinkSetAlias(l, fmt.Sprintf("%s%d", aliasPrefix, os.Getpid()))
}

// ErrHostNetwork is returned by CheckNotHost for the host's network namespace.
var ErrHostNetwork = errors.New("the container's network namespace is the host's: a runuml guest has its own network stack " +
	"and cannot share the host's (docker --network host is not supported)")

// CheckNotHost fails with ErrHostNetwork when path is the network namespace of the host's
// init or of the caller: a spec may name the host's namespace by path (docker's --network
// host gives EXEC-ROOT/netns/default, a bind mount of dockerd's), and Take there would flush
// the host's addresses. Call it before joining path.
func CheckNotHost(path string) error {
	var ns unix.Stat_t
	if err := unix.Stat(path, &ns); err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	for _, host := range []string{"/proc/self/ns/net", "/proc/1/ns/net"} {
		var h unix.Stat_t
		if err := unix.Stat(host, &h); err != nil {
			if host == "/proc/1/ns/net" {
				continue // not ours to see (a sandbox may deny it even to root)
			}
			return fmt.Errorf("network namespace %s: %w", host, err)
		}
		if ns.Dev == h.Dev && ns.Ino == h.Ino {
			return fmt.Errorf("network namespace %s: %w", path, ErrHostNetwork)
		}
	}
	return nil
}

// aliasPrefix starts the alias (IFLA_IFALIAS) Take gives an interface it hands to a guest,
// followed by the taking process's pid; Restore clears it.
const aliasPrefix = "runuml-guest-of-pid-"

// ErrShared is returned by Take for a network namespace whose interfaces another guest holds.
var ErrShared = errors.New("a runuml container cannot share a network namespace with another runuml container: " +
	"the network stack is that container's guest kernel (docker --network container:X and pods are not supported)")

// checkFree fails with ErrShared if l is held by the guest of a live process.
func checkFree(l netlink.Link) error {
	pid, err := strconv.Atoi(strings.TrimPrefix(l.Attrs().Alias, aliasPrefix))
	if !strings.HasPrefix(l.Attrs().Alias, aliasPrefix) || err != nil || pid <= 0 {
		return nil
	}
	if unix.Kill(pid, 0) == nil || pid == os.Getpid() {
		return fmt.Errorf("network: interface %s is in the guest of runuml monitor pid %d: %w", l.Attrs().Name, pid, ErrShared)
	}
	return nil // its monitor was killed without restoring it
}

// vectorArg is the kernel argument of vector device n on a raw socket bound to iface.
func vectorArg(n int, iface Interface, o Options) string {
	opts := []string{"transport=raw", "ifname=" + iface.Name}
	if iface.MAC != "" {
		opts = append(opts, "mac="+iface.MAC)
	}
	if iface.MTU > 0 {
		opts = append(opts, fmt.Sprintf("mtu=%d", iface.MTU))
	}
	if o.Depth > 0 {
		opts = append(opts, fmt.Sprintf("depth=%d", o.Depth))
	}
	if o.GRO {
		opts = append(opts, "gro=1")
	}
	return fmt.Sprintf("vec%d:%s", n, strings.Join(opts, ","))
}

// routes returns the routes through l that its addresses do not make by themselves.
func routes(l netlink.Link) ([]Route, error) {
	rs, err := netlink.RouteList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("network: %s: routes: %w", l.Attrs().Name, err)
	}
	var out []Route
	for _, r := range rs {
		if r.Protocol == unix.RTPROT_KERNEL || (r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast()) {
			continue
		}
		if r.Dst != nil && r.Dst.IP.IsMulticast() {
			continue
		}
		var rt Route
		if r.Dst != nil && !isDefault(r.Dst) {
			rt.Dst = r.Dst.String()
		}
		if r.Gw != nil {
			rt.Gw = r.Gw.String()
		}
		if r.Src != nil {
			rt.Src = r.Src.String()
		}
		out = append(out, rt)
	}
	return out, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0 && n.IP.IsUnspecified()
}

// Restore gives the network namespace back its addresses and routes once the guest is gone,
// for a namespace that outlives the container (a pod's, or one made with `ip netns`).
func Restore(cfg *Config) error {
	var errs []error
	for _, iface := range cfg.Interfaces {
		err := configureLink(iface.Name, iface, false)
		if l, lerr := netlink.LinkByName(iface.Name); lerr == nil {
			err = errors.Join(err, netlink.LinkSetAlias(l, ""))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("network: restore %s: %w", iface.Name, err))
		}
	}
	return errors.Join(errs...)
}
