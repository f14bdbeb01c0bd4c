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
// perhaps from everyone, never takes over. It runs a round of checks when
// asked (Ask): the failover node asks at the calm cadence while no answer
// can matter, and every dead_after/5 while one can (failover.TieBreakerDue).
// Its methods are safe for concurrent use.
type TieBreaker struct {
	targets []string
	timeout time.Duration // each connect's deadline: dead_after/5
	clock   clock.Clock
	last    atomic.Int64 // unix nanoseconds of the last answer
	ok      atomic.Bool  // the last round (or the one under way) got an answer
	ask     chan struct{}
	urgent  atomic.Bool // the next round was asked for urgently
	notify  atomic.Pointer[func()]
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

// NewTieBreaker sizes the checks to dead_after: each connect gets
// dead_after/5, the time between two rounds while an answer can matter. c
// is the clock (clock.Real when nil).
func NewTieBreaker(targets []string, deadAfter time.Duration, c clock.Clock) *TieBreaker {
	return &TieBreaker{targets: targets, timeout: deadAfter / 5, clock: clock.Or(c), dial: dialTCP,
		ask: make(chan struct{}, 1)}
}

// Notify sets f to be called, from the checking goroutine, when a round's
// outcome changes OK, and on the first answer of an urgent round: the node
// decides on it. f must not block.
func (t *TieBreaker) Notify(f func()) { t.notify.Store(&f) }

// Ask asks for a round of checks now; urgent: its answer matters now, and
// is notified (see Notify). It never blocks; asks while a round runs fold
// into one more round after it.
func (t *TieBreaker) Ask(urgent bool) {
	if urgent {
		t.urgent.Store(true)
	}
	select {
	case t.ask <- struct{}{}:
	default:
	}
}

// Run runs a round each time one is asked for, until ctx is done. A round
// dials every target at once and records the first answer: targets that
// time out must not delay the one that answers, or a primary whose peer is
// dead could find no answer within isolation_after and step down for
// nothing.
func (t *TieBreaker) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.ask:
		}
		t.round(ctx)
	}
}

// round dials every target concurrently, each within t.timeout, stores the
// time of the latest answer and, on the first, notifies when the round is
// urgent or OK turns; it returns when all dials have ended, with OK false
// (notified) if none answered.
func (t *TieBreaker) round(ctx context.Context) {
	var wg sync.WaitGroup
	var answered atomic.Bool
	urgent := t.urgent.Swap(false)
	for _, target := range t.targets {
		wg.Go(func() {
			if t.dial(ctx, target, t.timeout) != nil {
				return
			}
			now := t.clock.Now().UnixNano()
			for {
				// Keep the latest answer: two may land in one round.
				old := t.last.Load()
				if old >= now || t.last.CompareAndSwap(old, now) {
					break
				}
			}
			if !answered.Swap(true) && (!t.ok.Swap(true) || urgent) {
				t.notifyNode()
			}
		})
	}
	wg.Wait()
	if !answered.Load() && t.ok.Swap(false) {
		t.notifyNode()
	}
}

func (t *TieBreaker) notifyNode() {
	if f := t.notify.Load(); f != nil {
		(*f)()
	}
}

// Last returns when a target last answered (zero: never).
func (t *TieBreaker) Last() time.Time {
	if last := t.last.Load(); last != 0 {
		return time.Unix(0, last)
	}
	return time.Time{}
}

// OK reports whether the last round got an answer (with a round under way,
// the one before, until this one answers or ends). Last says how long ago.
func (t *TieBreaker) OK() bool { return t.ok.Load() }
