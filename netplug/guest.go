package netplug

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Configure applies cfg in the guest: lo up, and each vector device renamed, sized,
// addressed and routed as its interface was in the container's network namespace.
func Configure(cfg *Config) error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("network: lo: %w", err)
	}
	for n, iface := range cfg.Interfaces {
		if err := configureLink(fmt.Sprintf("vec%d", n), iface, true); err != nil {
			return fmt.Errorf("network: %s: %w", iface.Name, err)
		}
	}
	return nil
}

// configureLink gives link dev the interface's addresses and routes, and with setup first
// its name, MTU and up state. Without setup (a restore), ones already there are fine.
func configureLink(dev string, iface Interface, setup bool) error {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return err
	}
	if setup {
		if err := setupLink(l, iface); err != nil {
			return err
		}
	}
	for _, a := range iface.Addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			return err
		}
		// The address is moving, not new: the namespace held it (and ran IPv6 duplicate
		// address detection for it). Detecting again would leave it tentative for a second
		// or more, in which the container's first connections stall on neighbour discovery.
		addr.Flags |= unix.IFA_F_NODAD
		if err := netlink.AddrAdd(l, addr); err != nil && (setup || !errors.Is(err, unix.EEXIST)) {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	for _, r := range iface.Routes {
		route := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(r.Gw), Src: net.ParseIP(r.Src)}
		if r.Dst != "" {
			if _, route.Dst, err = net.ParseCIDR(r.Dst); err != nil {
				return err
			}
		}
		if err := netlink.RouteAdd(route); err != nil && (setup || !errors.Is(err, unix.EEXIST)) {
			return fmt.Errorf("route %+v: %w", r, err)
		}
	}
	return nil
}

func setupLink(l netlink.Link, iface Interface) error {
	if l.Attrs().Name != iface.Name {
		if err := netlink.LinkSetName(l, iface.Name); err != nil {
			return fmt.Errorf("rename %s: %w", l.Attrs().Name, err)
		}
	}
	if iface.MTU > 0 {
		if err := netlink.LinkSetMTU(l, iface.MTU); err != nil {
			return fmt.Errorf("mtu %d: %w", iface.MTU, err)
		}
	}
	return netlink.LinkSetUp(l)
}
