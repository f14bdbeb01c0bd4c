package main

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// tieBreaker checks that this node reaches at least one of its tie-breaker
// targets by TCP. A node cut off from them (and so perhaps from everyone)
// never takes over.
type tieBreaker struct {
	targets []string
	every   time.Duration // between rounds; also each connect's deadline
	window  time.Duration // ok: a target answered within this long
	last    atomic.Int64  // unix nanoseconds of the last success
}

// newTieBreaker sizes the checks to dead_after: a round every dead_after/5,
// ok while a target answered within dead_after/2. The peer is declared dead
// dead_after after its last heartbeat, and whatever silenced it happened
// at most one heartbeat interval (≤ dead_after/2) after that heartbeat; so
// an answer within the window came after the silence began, and proves
// this node's own network still works — a node whose link just went down
// does not take over on the strength of an answer from before.
func newTieBreaker(targets []string, deadAfter time.Duration) *tieBreaker {
	return &tieBreaker{targets: targets, every: deadAfter / 5, window: deadAfter / 2}
}

func (t *tieBreaker) run(ctx context.Context) {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		for _, target := range t.targets {
			c, err := (&net.Dialer{Timeout: t.every}).DialContext(ctx, "tcp", target)
			if err == nil {
				c.Close()
				t.last.Store(time.Now().UnixNano())
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ok reports whether a target answered within the window.
func (t *tieBreaker) ok() bool {
	last := t.last.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < t.window
}
