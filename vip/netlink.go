package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds each netlink request, so a wedged kernel call cannot
// hang a takeover.
const netlinkTimeout = 5 * time.Second

// netlinkVIP adds and deletes the address with a netlink handle and
// announces it on sockets, all opened once in New and kept. They belong to
// the network namespace of the thread that called New.
type netlinkVIP struct {
	cfg    Config
	prefix netip.Prefix
	log    *slog.Logger
	nl     *netlink.Handle
	arp    *arpSocket // IPv4
	na     *naSocket  // IPv6
	where  string     // "198.18.0.100/32 on eth0", for errors
}

func newNetlinkVIP(cfg Config, prefix netip.Prefix, log *slog.Logger) (_ *netlinkVIP, err error) {
	n := &netlinkVIP{cfg: cfg, prefix: prefix, log: log, where: prefix.String() + " on " + cfg.Interface}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("vip: new %s: netlink: %w", n.where, err)
	}
	if err := n.nl.SetSocketTimeout(netlinkTimeout); err != nil {
		return nil, fmt.Errorf("vip: new %s: netlink timeout: %w", n.where, err)
	}
	link, err := n.link()
	if err != nil {
		return nil, fmt.Errorf("vip: new %s: %w", n.where, err)
	}
	if err := n.checkSecondary(link); err != nil {
		return nil, fmt.Errorf("vip: new %s: %w", n.where, err)
	}
	if prefix.Addr().Is4() {
		n.arp, err = openARPSocket()
	} else {
		n.na, err = openNASocket()
	}
	if err != nil {
		return nil, fmt.Errorf("vip: new %s: %w", n.where, err)
	}
	if !canAnnounce(link) {
		log.Info("the interface does not use ARP or neighbour discovery; the address will not be announced")
	}
	return n, nil
}

// link looks the interface up afresh, so a recreated interface (new index,
// new MAC) is followed.
func (n *netlinkVIP) link() (netlink.Link, error) {
	l, err := n.nl.LinkByName(n.cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", n.cfg.Interface, err)
	}
	return l, nil
}

func canAnnounce(l netlink.Link) bool {
	a := l.Attrs()
	return a.RawFlags&unix.IFF_NOARP == 0 && len(a.HardwareAddr) == 6
}

func (n *netlinkVIP) family() int {
	if n.prefix.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// addrList lists the interface's addresses of family, retrying a dump that
// the kernel interrupted because the list changed meanwhile.
func (n *netlinkVIP) addrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	var err error
	for range 3 {
		var addrs []netlink.Addr
		addrs, err = n.nl.AddrList(link, family)
		if err == nil {
			return addrs, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("list addresses of %s: %w", n.cfg.Interface, err)
}

// find returns the interface's address entries that carry the VIP, with
// whatever prefix length.
func (n *netlinkVIP) find(link netlink.Link) ([]netlink.Addr, error) {
	addrs, err := n.addrList(link, n.family())
	if err != nil {
		return nil, err
	}
	var found []netlink.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == n.prefix.Addr() {
			found = append(found, a)
		}
	}
	return found, nil
}

// checkSecondary refuses an IPv4 VIP that the kernel would make a secondary
// address of the node's own address (same prefix length, same subnet) while
// promote_secondaries is off: deleting or renewing the node's own address
// would then silently delete the VIP too.
func (n *netlinkVIP) checkSecondary(link netlink.Link) error {
	p := n.prefix
	if !p.Addr().Is4() || p.Bits() == 32 {
		return nil
	}
	addrs, err := n.addrList(link, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	var primary netip.Prefix
	for _, a := range addrs {
		ap, ok := addrPrefix(a)
		if !ok || ap.Addr() == p.Addr() || a.Flags&unix.IFA_F_SECONDARY != 0 {
			continue
		}
		if ap.Bits() == p.Bits() && ap.Masked().Contains(p.Addr()) {
			primary = ap
			break
		}
	}
	if !primary.IsValid() {
		return nil
	}
	on, err := promoteSecondaries(n.cfg.Interface)
	if err != nil {
		return err
	}
	if on {
		return nil
	}
	return fmt.Errorf("vip.address: the address would be a secondary of %s, and net.ipv4.conf.%s.promote_secondaries "+
		"and net.ipv4.conf.all.promote_secondaries are 0, so removing %s would remove the VIP with it; "+
		"use vip.address %s/32 or set promote_secondaries=1", primary, n.cfg.Interface, primary, p.Addr())
}

func addrPrefix(a netlink.Addr) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok || a.IPNet == nil {
		return netip.Prefix{}, false
	}
	bits, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), bits), true
}

// promoteSecondaries reads the sysctl of the calling thread's network
// namespace. The kernel promotes when either the "all" or the interface's
// setting is on.
func promoteSecondaries(ifname string) (bool, error) {
	for _, dev := range []string{"all", ifname} {
		path := "/proc/sys/net/ipv4/conf/" + dev + "/promote_secondaries"
		b, err := os.ReadFile(path)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", path, err)
		}
		if v := strings.TrimSpace(string(b)); v != "0" {
			return true, nil
		}
	}
	return false, nil
}

func (n *netlinkVIP) up(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vip: up %s: %w", n.where, err)
	}
	link, err := n.link()
	if err != nil {
		return fmt.Errorf("vip: up %s: %w", n.where, err)
	}
	found, err := n.find(link)
	if err != nil {
		return fmt.Errorf("vip: up %s: %w", n.where, err)
	}
	if len(found) > 0 {
		n.log.Info("address already on the interface", "action", "up")
		return nil
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.prefix.Addr().AsSlice(), Mask: net.CIDRMask(n.prefix.Bits(), n.prefix.Addr().BitLen())}}
	if n.prefix.Addr().Is4() {
		addr.Label = n.cfg.Label
	} else {
		// Without NODAD the address stays tentative for a second or more
		// and nothing can use it, not even the announcement.
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := n.nl.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vip: up %s: add address: %w", n.where, err)
	}
	n.log.Info("address added", "action", "up")
	n.warnIfSecondary(link)
	return nil
}

// warnIfSecondary logs when the added address became a secondary that
// would vanish with its primary: a setup that changed since New checked it.
func (n *netlinkVIP) warnIfSecondary(link netlink.Link) {
	if !n.prefix.Addr().Is4() || n.prefix.Bits() == 32 {
		return
	}
	found, err := n.find(link)
	if err != nil || len(found) == 0 || found[0].Flags&unix.IFA_F_SECONDARY == 0 {
		return
	}
	if on, err := promoteSecondaries(n.cfg.Interface); err == nil && !on {
		n.log.Warn("the address is a secondary and promote_secondaries is 0: removing the interface's primary address would remove it too; use a /32 address", "action", "up")
	}
}

func (n *netlinkVIP) down(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vip: down %s: %w", n.where, err)
	}
	_, err := n.remove()
	return err
}

// remove deletes every entry of the address from the interface and reports
// whether there was one. A missing interface carries no address.
func (n *netlinkVIP) remove() (bool, error) {
	link, err := n.link()
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, fmt.Errorf("vip: down %s: %w", n.where, err)
	}
	found, err := n.find(link)
	if err != nil {
		return false, fmt.Errorf("vip: down %s: %w", n.where, err)
	}
	for _, a := range found {
		err := n.nl.AddrDel(link, &a)
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			return true, fmt.Errorf("vip: down %s: delete %s: %w", n.where, a.IPNet, err)
		}
		n.log.Info("address deleted", "action", "down", "entry", a.IPNet.String())
	}
	return len(found) > 0, nil
}

func (n *netlinkVIP) held(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("vip: held %s: %w", n.where, err)
	}
	link, err := n.link()
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, fmt.Errorf("vip: held %s: %w", n.where, err)
	}
	found, err := n.find(link)
	if err != nil {
		return false, fmt.Errorf("vip: held %s: %w", n.where, err)
	}
	return len(found) > 0, nil
}

func (n *netlinkVIP) ensureAbsent(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("vip: ensure absent %s: %w", n.where, err)
	}
	removed, err := n.remove()
	if removed {
		n.log.Warn("found the service address on this node at start-up and removed it", "action", "ensure_absent")
	}
	return removed, err
}

func (n *netlinkVIP) announces() bool { return true }

// announce sends one gratuitous ARP or unsolicited neighbour advertisement
// from the interface's current MAC.
func (n *netlinkVIP) announce() error {
	link, err := n.link()
	if err != nil {
		return fmt.Errorf("vip: announce %s: %w", n.where, err)
	}
	if !canAnnounce(link) {
		return nil
	}
	a := link.Attrs()
	ip := n.prefix.Addr()
	if ip.Is4() {
		frame, err := garpFrame(a.HardwareAddr, ip)
		if err != nil {
			return fmt.Errorf("vip: garp %s: %w", n.where, err)
		}
		if err := n.arp.send(a.Index, frame); err != nil {
			return fmt.Errorf("vip: garp %s: %w", n.where, err)
		}
		return nil
	}
	msg, err := unsolicitedNA(a.HardwareAddr, ip)
	if err != nil {
		return fmt.Errorf("vip: neighbour advertisement %s: %w", n.where, err)
	}
	if err := n.na.send(a.Index, ip, msg); err != nil {
		return fmt.Errorf("vip: neighbour advertisement %s: %w", n.where, err)
	}
	return nil
}

func (n *netlinkVIP) close() error {
	var errs []error
	if n.arp != nil {
		errs = append(errs, n.arp.close())
	}
	if n.na != nil {
		errs = append(errs, n.na.close())
	}
	if n.nl != nil {
		n.nl.Close()
	}
	return errors.Join(errs...)
}
