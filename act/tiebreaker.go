package act

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/internal/clock"
)

// TieBreaker checks that this node reaches at least one of its tie-breaker
// targets (failover.tie_breakers) by TCP. A node cut off from them, and so
// perhaps from everyone, never takes over. Its methods are safe for
// concurrent use.
type TieBreaker struct {
	targets []string
	every   time.Duration // between rounds; also each connect's deadline
	window  time.Duration // ok: a target answered within this long
	clock   clock.Clock
	last    atomic.Int64 // unix nanoseconds of the last success
}

// NewTieBreaker sizes the checks to dead_after: a round every dead_after/5,
// ok while a target answered within dead_after/2. The peer is declared dead
// dead_after after its last heartbeat, and whatever silenced it happened at
// most one heartbeat interval (≤ dead_after/2) after that heartbeat; so an
// answer within the window came after the silence began, and proves this
// node's own network still works — a node whose link just went down does
// not take over on the strength of an answer from before. c is the clock
// (clock.Real when nil).
func NewTieBreaker(targets []string, deadAfter time.Duration, c clock.Clock) *TieBreaker {
	return &TieBreaker{targets: targets, every: deadAfter / 5, window: deadAfter / 2, clock: clock.Or(c)}
}

// Run checks the targets, in order until one answers, every round until
// ctx is done.
func (t *TieBreaker) Run(ctx context.Context) {
	tick := t.clock.NewTimer(t.every)
	defer tick.Stop()
	for {
		for _, target := range t.targets {
			c, err := (&net.Dialer{Timeout: t.every}).DialContext(ctx, "tcp", target)
			if err == nil {
				c.Close()
				t.last.Store(t.clock.Now().UnixNano())
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			tick.Reset(t.every)
		}
	}
}

// Last returns when a target last answered (zero: never).
func (t *TieBreaker) Last() time.Time {
	if last := t.last.Load(); last != 0 {
		return time.Unix(0, last)
	}
	return time.Time{}
}

// OK reports whether a target answered within the window.
func (t *TieBreaker) OK() bool {
	last := t.last.Load()
	return last != 0 && t.clock.Now().Sub(time.Unix(0, last)) < t.window
}
