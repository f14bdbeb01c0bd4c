package pair

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/vip"
)

// trackedVIP is the VIP as the act stage moves it: an up or down that
// worked sets the tracked state at once, so the next decision sees what the
// action did and not the state from before it, which the watcher's
// notification would correct a moment later (a primary that had just taken
// over would otherwise find its new VIP "absent" and put it back).
type trackedVIP struct {
	*vip.VIP
	state *atomic.Uint32 // failover.VIPState; left alone while untracked
}

// Up adds the VIP; on success it is tracked as held.
func (t trackedVIP) Up(ctx context.Context) error {
	err := t.VIP.Up(ctx)
	if err == nil {
		t.state.CompareAndSwap(uint32(failover.VIPAbsent), uint32(failover.VIPHeld))
	}
	return err
}

// Down removes the VIP; on success it is tracked as absent.
func (t trackedVIP) Down(ctx context.Context) error {
	err := t.VIP.Down(ctx)
	if err == nil {
		t.state.CompareAndSwap(uint32(failover.VIPHeld), uint32(failover.VIPAbsent))
	}
	return err
}

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
