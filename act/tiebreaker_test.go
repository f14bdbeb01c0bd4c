package act

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestTieBreakerWindow: ok only while a target answered within dead_after/2
// — not before the first answer, and no longer once the target stopped
// answering for that long (the answer that counts must come after the
// peer went silent).
func TestTieBreakerWindow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)
	tb := NewTieBreaker([]string{"127.0.0.1:1", ln.Addr().String()}, 500*time.Millisecond, nil) // the first target refuses
	if tb.every != 100*time.Millisecond || tb.window != 250*time.Millisecond {
		t.Fatalf("got every %s window %s, want dead_after/5 and dead_after/2", tb.every, tb.window)
	}
	if tb.OK() {
		t.Fatal("ok before any round, want not ok")
	}
	ctx := t.Context()
	go tb.Run(ctx)
	testenv.WaitFor(t, 5*time.Second, "a target answers", tb.OK)
	ln.Close()
	start := time.Now()
	testenv.WaitFor(t, 5*time.Second, "no target answers", func() bool { return !tb.OK() })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("still ok %s after the last target closed, want about the window %s", d, tb.window)
	}
}

// TestTieBreakerSlowTargets: targets that time out do not delay one that
// answers: with two of them listed first, a round still records an answer
// at once, so answers come every round — not every three dial timeouts,
// which would let a primary with a dead peer step down as isolated.
func TestTieBreakerSlowTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := NewTieBreaker([]string{"slow-1", "slow-2", "live"}, time.Second, nil)
		tb.dial = func(ctx context.Context, target string, timeout time.Duration) error {
			if target == "live" {
				time.Sleep(time.Millisecond)
				return nil
			}
			select { // no answer: the dial times out
			case <-time.After(timeout):
				return errors.New("i/o timeout")
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tb.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		var lastSeen time.Time
		gap := time.Duration(0)
		for range 20 {
			time.Sleep(50 * time.Millisecond)
			if l := tb.Last(); !l.IsZero() {
				if !lastSeen.IsZero() && l.After(lastSeen) {
					gap = max(gap, l.Sub(lastSeen))
				}
				lastSeen = l
			}
		}
		if lastSeen.IsZero() {
			t.Fatal("no answer recorded")
		}
		if gap > tb.every+50*time.Millisecond {
			t.Errorf("answers came %s apart, want about one round (%s): slow targets held the live one up", gap, tb.every)
		}
		if !tb.OK() {
			t.Errorf("not ok with a live target")
		}
	})
}
