package vip

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Watch calls onChange with whether the VIP is on its interface at once,
// and again whenever that changes, until ctx is done: the kernel's address
// notifications (netlink), not polling, so a primary learns at once that
// its VIP was deleted. It works in netlink mode only; other modes return at
// once with onChange never called. onChange must not block long.
func (v *VIP) Watch(ctx context.Context, onChange func(held bool)) error {
	n, ok := v.be.(*netlinkVIP)
	if !ok {
		return nil
	}
	updates := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{ListExisting: true}); err != nil {
		return fmt.Errorf("vip: watch %s: subscribe: %w", n.where, err)
	}
	last, known := false, false
	report := func() {
		held, err := v.Held(ctx)
		if err != nil {
			v.log.Warn("vip watch: could not read the interface's addresses", "err", err)
			return
		}
		if !known || held != last {
			known, last = true, held
			onChange(held)
		}
	}
	report()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return fmt.Errorf("vip: watch %s: the netlink subscription ended", n.where)
			}
			if a, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok && a.Unmap() == n.prefix.Addr() {
				report()
			}
		}
	}
}
