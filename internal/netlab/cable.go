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
// for 26 cables; Close removes them with the namespaces.
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
		// While the cable is down its own route is gone, and the
		// switch's /24 would carry the cable's traffic instead: an
		// unreachable route, behind the cable's, keeps it off.
		{"-n", a.NS, "route", "add", "unreachable", c.net().String(), "metric", "4242"},
		{"-n", b.NS, "route", "add", "unreachable", c.net().String(), "metric", "4242"},
		{"-n", a.NS, "link", "set", c.Link, "up"},
		{"-n", b.NS, "link", "set", c.Link, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, fmt.Errorf("netlab: cable %s-%s: %w", a.Name, b.Name, err)
		}
	}
	if err := c.waitUp(ctx, time.Now().Add(10*time.Second)); err != nil {
		return nil, err
	}
	return c, nil
}

// net is the cable's /31.
func (c *Cable) net() netip.Prefix { return netip.PrefixFrom(c.AIP, 31).Masked() }

// Ends returns h's address on the cable and the other end's.
func (c *Cable) Ends(h *Host) (local, remote netip.Addr) {
	if h == c.B {
		return c.BIP, c.AIP
	}
	return c.AIP, c.BIP
}

// Down takes both ends of the cable down, as a pulled cable would: no
// datagram crosses it, nor strays onto the switch (each end holds an
// unreachable route for the cable's /31 behind the cable's own), and
// sockets bound to the cable addresses stay bound.
func (c *Cable) Down() error { return c.set("down") }

// Up brings both ends up again after Down and waits (up to 10s) until both
// are operationally up.
func (c *Cable) Up() error {
	if err := c.set("up"); err != nil {
		return err
	}
	return c.waitUp(context.Background(), time.Now().Add(10*time.Second))
}

// waitUp waits until both ends are operationally up, or the deadline.
func (c *Cable) waitUp(ctx context.Context, deadline time.Time) error {
	for _, h := range []*Host{c.A, c.B} {
		state, err := operState(ctx, h.ns, c.Link, deadline)
		if err != nil {
			return fmt.Errorf("netlab: cable %s-%s: %s: %w", c.A.Name, c.B.Name, h.Name, err)
		}
		if state != netlink.OperUp {
			return fmt.Errorf("netlab: cable %s-%s: %s: got state %s, want up within 10s", c.A.Name, c.B.Name, h.Name, state)
		}
	}
	return nil
}

func (c *Cable) set(state string) error {
	for _, h := range []*Host{c.A, c.B} {
		if err := ip(context.Background(), "-n", h.NS, "link", "set", c.Link, state); err != nil {
			return fmt.Errorf("netlab: cable %s-%s %s: %w", c.A.Name, c.B.Name, state, err)
		}
	}
	return nil
}
