package pair

import (
	"context"
	"time"
)

// VIPHeld reports whether this node holds the service address, for
// metrics: ok is false without a VIP or when the check fails. It asks the
// VIP backend (netlink: the interface's addresses; script: the check
// command, or what the last up or down left), bounded by a second.
func (p *Pair) VIPHeld() (held, ok bool) {
	if p.cfg.VIP == nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h, err := p.cfg.VIP.Held(ctx)
	return h, err == nil
}
