// Package linkwatch tells whether tracked network interfaces have carrier,
// from the kernel's link notifications (netlink, not polling), so that a
// primary whose service network lost its cable hands the service over at
// once, and a standby without one is not eligible.
package linkwatch

import (
	"context"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Watch calls onChange with the first of names (in order) that has no
// carrier — "" when all have it — at once, and again whenever that
// changes, until ctx is done. An interface that does not exist has no
// carrier. onChange must not block long. With no names it returns at once.
func Watch(ctx context.Context, names []string, onChange func(down string)) error {
	if len(names) == 0 {
		return nil
	}
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{ListExisting: true}); err != nil {
		return fmt.Errorf("linkwatch: subscribe: %w", err)
	}
	up := map[string]bool{}
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		up[name] = err == nil && Carrier(l.Attrs().RawFlags)
	}
	last := "(none yet)"
	report := func() {
		down := ""
		for _, name := range names {
			if !up[name] {
				down = name
				break
			}
		}
		if down != last {
			last = down
			onChange(down)
		}
	}
	report()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return fmt.Errorf("linkwatch: the netlink subscription ended")
			}
			name := u.Attrs().Name
			if !slices.Contains(names, name) {
				continue
			}
			up[name] = u.Header.Type != unix.RTM_DELLINK && Carrier(u.Attrs().RawFlags)
			report()
		}
	}
}

// Carrier reports whether interface flags say the link is up with carrier
// (IFF_UP and IFF_LOWER_UP).
func Carrier(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_LOWER_UP != 0
}
