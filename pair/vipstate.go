package pair

import (
	"context"
	"errors"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/vip"
)

// The VIP state Decide sees (failover.Observation.VIP) comes from the VIP
// watcher, which learns of an address change from the kernel's
// notification some time after the change. The node decides again the
// moment its own takeover or release returns, before that notification
// has been read: on the watcher's report alone, a primary that had just
// added the VIP found it "gone", put it back and raised vip_lost at every
// takeover, and a node that had just released it "found" it and removed
// it again. So the node's own adds and removals set the state too, and
// every store of it happens under vipMu after a fresh read or change.

// trackedVIP is the VIP as the act stage uses it: a successful Up or Down
// also sets the state Decide sees.
type trackedVIP struct {
	act.VIP
	p *Pair
}

// Up adds and announces the VIP; once it is on the interface (announced or
// not), the state says held.
func (v trackedVIP) Up(ctx context.Context) error {
	v.p.vipMu.Lock()
	defer v.p.vipMu.Unlock()
	err := v.VIP.Up(ctx)
	if err == nil || errors.Is(err, vip.ErrAnnounce) {
		v.p.setVIPStateLocked(failover.VIPHeld)
	}
	return err
}

// Down removes the VIP; once it is gone, the state says absent.
func (v trackedVIP) Down(ctx context.Context) error {
	v.p.vipMu.Lock()
	defer v.p.vipMu.Unlock()
	err := v.VIP.Down(ctx)
	if err == nil {
		v.p.setVIPStateLocked(failover.VIPAbsent)
	}
	return err
}

// setVIPStateLocked stores st unless the VIP is not tracked (no watcher
// runs, or it stopped): then nothing is known of it between moves. vipMu is
// held.
func (p *Pair) setVIPStateLocked(st failover.VIPState) {
	if failover.VIPState(p.vipState.Load()) != failover.VIPUntracked {
		p.vipState.Store(uint32(st))
	}
}

// vipChanged takes a report of the VIP watcher: held is what it read when
// the kernel's notification came. The address is read again under vipMu,
// so that a report read before one of the node's own changes does not
// overwrite what that change stored.
func (p *Pair) vipChanged(held bool) {
	p.vipMu.Lock()
	defer p.vipMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if now, err := p.cfg.VIP.Held(ctx); err == nil {
		held = now
	}
	st := failover.VIPAbsent
	if held {
		st = failover.VIPHeld
	}
	p.vipState.Store(uint32(st))
}
