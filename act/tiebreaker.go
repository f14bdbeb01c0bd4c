package act

import (
	"context"
	"net"
	"sync"
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
	// dial connects to a target within timeout (a TCP dial; tests replace
	// it).
	dial func(ctx context.Context, target string, timeout time.Duration) error
}

// dialTCP connects to target by TCP and closes the connection.
func dialTCP(ctx context.Context, target string, timeout time.Duration) error {
	c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	return c.Close()
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
	return &TieBreaker{targets: targets, every: deadAfter / 5, window: deadAfter / 2, clock: clock.Or(c), dial: dialTCP}
}

// Run checks the targets every round until ctx is done. A round dials
// every target at once and records the first answer: targets that time out
// must not delay the one that answers, or a primary whose peer is dead
// could find no answer within isolation_after and step down for nothing.
func (t *TieBreaker) Run(ctx context.Context) {
	tick := t.clock.NewTimer(t.every)
	defer tick.Stop()
	for {
		t.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			tick.Reset(t.every)
		}
	}
}

// round dials every target concurrently, each within t.every, and stores
// the time of the first answer; it returns when all dials have ended.
func (t *TieBreaker) round(ctx context.Context) {
	var wg sync.WaitGroup
	for _, target := range t.targets {
		wg.Go(func() {
			if t.dial(ctx, target, t.every) != nil {
				return
			}
			now := t.clock.Now().UnixNano()
			for {
				// Keep the latest answer: two may land in one round.
				old := t.last.Load()
				if old >= now || t.last.CompareAndSwap(old, now) {
					return
				}
			}
		})
	}
	wg.Wait()
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
