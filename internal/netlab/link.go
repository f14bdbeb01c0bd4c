package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
)

// Point-to-point links take /30s from the top of the subnet down, above the
// service addresses: the first 198.18.0.252/30, the last 198.18.0.224/30.
const (
	firstLinkNet = 252
	maxLinks     = 8
	linkPrefix   = 30
	linkIfPrefix = "p-" // a link's interface: "p-" + the other end's host name
)

// LinkSpec names the two hosts of a point-to-point link (Options.Links).
type LinkSpec struct{ A, B string }

// Link is a point-to-point link between two hosts beside the switch, as a
// crossover cable between two servers would be: a veth pair with one end in
// each host's namespace and a /30 of its own.
type Link struct {
	A, B LinkEnd // in the order of the LinkSpec
}

// LinkEnd is one end of a Link.
type LinkEnd struct {
	Host *Host
	Link string     // its interface in Host's namespace: "p-" + the other host's name
	IP   netip.Addr // its address, in the link's /30
}

// LinkAddr returns the addresses of the ends of link i (from 0, in the order
// of Options.Links): 198.18.0.253 and .254 for the first link, .249 and .250
// for the second, and so on.
func LinkAddr(i int) (a, b netip.Addr) {
	base := firstLinkNet - 4*i
	return Addr(base + 1), Addr(base + 2)
}

// Link returns the link between the hosts called a and b (in either order),
// or nil.
func (lab *Lab) Link(a, b string) *Link {
	for _, l := range lab.Links {
		if (l.A.Host.Name == a && l.B.Host.Name == b) || (l.A.Host.Name == b && l.B.Host.Name == a) {
			return l
		}
	}
	return nil
}

// checkLinks validates Options.Links against the host names.
func checkLinks(specs []LinkSpec, hosts map[string]bool) error {
	if len(specs) > maxLinks {
		return fmt.Errorf("netlab: %d links: want at most %d", len(specs), maxLinks)
	}
	seen := map[[2]string]bool{}
	for _, s := range specs {
		if !hosts[s.A] || !hosts[s.B] || s.A == s.B {
			return fmt.Errorf("netlab: link %s-%s: want two different hosts of Options.Hosts", s.A, s.B)
		}
		key := [2]string{min(s.A, s.B), max(s.A, s.B)}
		if seen[key] {
			return fmt.Errorf("netlab: link %s-%s: a second link between the same hosts", s.A, s.B)
		}
		seen[key] = true
	}
	return nil
}

// addLink creates link i between the hosts of spec and brings it up.
func (lab *Lab) addLink(ctx context.Context, i int, spec LinkSpec) (*Link, error) {
	ha, hb := lab.Host(spec.A), lab.Host(spec.B)
	ipa, ipb := LinkAddr(i)
	l := &Link{
		A: LinkEnd{Host: ha, Link: linkIfPrefix + hb.Name, IP: ipa},
		B: LinkEnd{Host: hb, Link: linkIfPrefix + ha.Name, IP: ipb},
	}
	steps := [][]string{
		{"-n", ha.NS, "link", "add", l.A.Link, "type", "veth", "peer", "name", l.B.Link, "netns", hb.NS},
	}
	subnet := netip.PrefixFrom(ipa, linkPrefix).Masked().String()
	for _, end := range []LinkEnd{l.A, l.B} {
		steps = append(steps,
			[]string{"-n", end.Host.NS, "addr", "add", fmt.Sprintf("%s/%d", end.IP, linkPrefix), "dev", end.Link},
			// While the link is down its own route is gone, and the
			// switch's /24 would carry the link's traffic instead: an
			// unreachable route, behind the link's, keeps it off.
			[]string{"-n", end.Host.NS, "route", "add", "unreachable", subnet, "metric", "4242"},
			[]string{"-n", end.Host.NS, "link", "set", end.Link, "up"})
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Down takes both ends of the link down, as a pulled cable would: no
// datagram crosses it, nor strays onto the switch (each end holds an
// unreachable route for the link's /30 behind the link's own), and sockets
// bound to the link addresses stay bound.
func (l *Link) Down() error { return l.set("down") }

// Up brings both ends up again after Down and waits (up to 10s) until both
// are operationally up.
func (l *Link) Up() error {
	if err := l.set("up"); err != nil {
		return err
	}
	return l.waitUp(context.Background(), time.Now().Add(10*time.Second))
}

// waitUp waits until both ends are operationally up, or the deadline.
func (l *Link) waitUp(ctx context.Context, deadline time.Time) error {
	for _, end := range []LinkEnd{l.A, l.B} {
		state, err := operState(ctx, end.Host.ns, end.Link, deadline)
		if err != nil {
			return fmt.Errorf("netlab: link %s-%s: %s: %w", l.A.Host.Name, l.B.Host.Name, end.Link, err)
		}
		if state != netlink.OperUp {
			return fmt.Errorf("netlab: link %s-%s: %s: got state %s, want up within 10s", l.A.Host.Name, l.B.Host.Name, end.Link, state)
		}
	}
	return nil
}

func (l *Link) set(state string) error {
	for _, end := range []LinkEnd{l.A, l.B} {
		if err := ip(context.Background(), "-n", end.Host.NS, "link", "set", end.Link, state); err != nil {
			return fmt.Errorf("netlab: link %s-%s %s: %w", l.A.Host.Name, l.B.Host.Name, state, err)
		}
	}
	return nil
}

// Cable is a back-to-back link between two hosts beside the switch, as a
// dedicated heartbeat link between two servers would be: a veth pair with
// one end in each host, named Link in both, addressed with a /31 that only
// the two of them share (198.18.0.200 and .201 for a lab's first cable,
// .202 and .203 for its second...). Traffic between the two cable
// addresses never crosses the switch.
type Cable struct {
	A, B     *Host
	Link     string     // the interface name at both ends: "c0", "c1"...
	AIP, BIP netip.Addr // the ends' addresses
}

// Cable wires hosts a and b of the lab together (see Cable). A lab has room
// for 27 cables; Close removes them with the namespaces.
func (lab *Lab) Cable(ctx context.Context, a, b *Host) (*Cable, error) {
	if a == nil || b == nil || a == b || a.lab != lab || b.lab != lab {
		return nil, errors.New("netlab: cable: want two different hosts of this lab")
	}
	lab.mu.Lock()
	k := lab.cables
	if k < maxCables {
		lab.cables++
	}
	lab.mu.Unlock()
	if k >= maxCables {
		return nil, fmt.Errorf("netlab: cable %s-%s: the lab has its %d cables already", a.Name, b.Name, maxCables)
	}
	c := &Cable{A: a, B: b, Link: "c" + strconv.Itoa(k), AIP: Addr(firstCable + 2*k), BIP: Addr(firstCable + 2*k + 1)}
	for _, args := range [][]string{
		{"-n", a.NS, "link", "add", c.Link, "type", "veth", "peer", "name", c.Link, "netns", b.NS},
		{"-n", a.NS, "addr", "add", c.AIP.String() + "/31", "dev", c.Link},
		{"-n", b.NS, "addr", "add", c.BIP.String() + "/31", "dev", c.Link},
		{"-n", a.NS, "link", "set", c.Link, "up"},
		{"-n", b.NS, "link", "set", c.Link, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, fmt.Errorf("netlab: cable %s-%s: %w", a.Name, b.Name, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range []*Host{a, b} {
		state, err := operState(ctx, h.ns, c.Link, deadline)
		if err != nil {
			return nil, fmt.Errorf("netlab: cable %s-%s: %s: %w", a.Name, b.Name, h.Name, err)
		}
		if state != netlink.OperUp {
			return nil, fmt.Errorf("netlab: cable %s-%s: %s: got state %s, want up within 10s", a.Name, b.Name, h.Name, state)
		}
	}
	return c, nil
}
