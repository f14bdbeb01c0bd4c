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
// perhaps from everyone, never takes over. It runs a round of checks when
// asked (Ask): the failover node asks at the calm cadence while no answer
// can matter, and every dead_after/5 while one can (failover.TieBreakerDue).
// Its methods are safe for concurrent use.
type TieBreaker struct {
	targets []string
	timeout time.Duration // each connect's deadline: dead_after/2
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

// NewTieBreaker sizes the checks to dead_after: each connect may take
// dead_after/2, as long as an answer counts for a takeover — longer than
// the dead_after/5 between two rounds while an answer can matter: with a
// deadline of dead_after/5 (30ms under the fast profile) a loaded host's
// late wakeup lost the tie-breaker, and a primary under 20 % heartbeat loss
// stepped down as isolated several times in minutes. c is the clock
// (clock.Real when nil).
func NewTieBreaker(targets []string, deadAfter time.Duration, c clock.Clock) *TieBreaker {
	return &TieBreaker{targets: targets, timeout: deadAfter / 2, clock: clock.Or(c), dial: dialTCP,
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

// RunEvery is Run for a caller that does not ask at its own cadence: it
// runs a round at once, then every `every` and whenever asked, until ctx
// is done (the etcd runtime: every lease TTL/5).
func (t *TieBreaker) RunEvery(ctx context.Context, every time.Duration) {
	tick := t.clock.NewTimer(every)
	defer tick.Stop()
	for {
		t.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		case <-t.ask:
			tick.Stop()
		}
		tick.Reset(every)
	}
}

// round dials every target concurrently, each within t.timeout, stores the
// time of the first answer and, when the round is urgent or OK turns,
// notifies; it returns then, or once every dial failed (OK false,
// notified when it turns); the dials still running end with it.
func (t *TieBreaker) round(ctx context.Context) {
	urgent := t.urgent.Swap(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answered := make(chan bool, len(t.targets))
	for _, target := range t.targets {
		go func() { answered <- t.dial(ctx, target, t.timeout) == nil }()
	}
	for range t.targets {
		if <-answered {
			t.last.Store(t.clock.Now().UnixNano())
			if !t.ok.Swap(true) || urgent {
				t.notifyNode()
			}
			return
		}
	}
	if t.ok.Swap(false) {
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
