package act

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestTieBreakerRounds: a round runs only when asked; OK says whether the
// last round got an answer — not before the first, no longer once the
// target stopped answering — and each turn of OK is notified.
func TestTieBreakerRounds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)
	tb := NewTieBreaker([]string{"127.0.0.1:1", ln.Addr().String()}, 500*time.Millisecond, nil) // the first target refuses
	if tb.timeout != 250*time.Millisecond {
		t.Fatalf("got connect timeout %s, want dead_after/2", tb.timeout)
	}
	var notified atomic.Int32
	tb.Notify(func() { notified.Add(1) })
	if tb.OK() || !tb.Last().IsZero() {
		t.Fatal("ok before any round, want not ok")
	}
	go tb.Run(t.Context())
	tb.Ask(false)
	testenv.WaitFor(t, 5*time.Second, "a target answers", tb.OK)
	testenv.WaitFor(t, 5*time.Second, "the answer notified", func() bool { return notified.Load() == 1 })
	first := tb.Last()
	tb.Ask(false) // calm, OK stays: not notified
	testenv.WaitFor(t, 5*time.Second, "a second answer", func() bool { return tb.Last().After(first) })
	ln.Close()
	tb.Ask(false)
	testenv.WaitFor(t, 5*time.Second, "no target answers", func() bool { return !tb.OK() })
	testenv.WaitFor(t, 5*time.Second, "the loss notified", func() bool { return notified.Load() == 2 })
}

// TestTieBreakerSlowTargets: targets that time out do not delay one that
// answers: with two of them listed first, an urgent round records and
// notifies the answer at once, not after the dial timeouts, which would
// let a primary with a dead peer step down as isolated.
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
		notified := make(chan time.Time, 10)
		tb.Notify(func() { notified <- time.Now() })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tb.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		for i := range 5 {
			asked := time.Now()
			tb.Ask(true)
			at := <-notified
			if d := at.Sub(asked); d > 10*time.Millisecond {
				t.Errorf("round %d: answer notified %s after the ask, want about 1ms: slow targets held the live one up", i, d)
			}
			if !tb.OK() || tb.Last().Before(asked) {
				t.Errorf("round %d: got ok %v last %s, want ok with an answer after the ask", i, tb.OK(), tb.Last())
			}
			time.Sleep(10 * time.Millisecond) // the round ends at its first answer
		}
	})
}

// TestTieBreakerLateAnswer: a target that answers later than the
// dead_after/5 between urgent rounds, but within dead_after/2, still
// counts, round after round. (With each connect's deadline at dead_after/5
// it never answered in time, and a primary on a loaded host could step
// down as isolated with its gateway up.)
func TestTieBreakerLateAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := NewTieBreaker([]string{"late"}, time.Second, nil)
		late := 300 * time.Millisecond // past dead_after/5, within dead_after/2
		tb.dial = func(ctx context.Context, target string, timeout time.Duration) error {
			select {
			case <-time.After(min(late, timeout)):
				if late > timeout {
					return errors.New("i/o timeout")
				}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tb.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		for i := range 5 {
			asked := time.Now()
			tb.Ask(true)
			time.Sleep(late + time.Millisecond)
			if !tb.OK() || tb.Last().Before(asked) {
				t.Fatalf("round %d: got ok %v, last answer %s; want an answer %s after the ask (connect deadline %s)", i, tb.OK(), tb.Last(), late, tb.timeout)
			}
		}
	})
}

// TestTieBreakerRunEvery: without asks, RunEvery runs a round at once and
// then every period (the etcd runtime's use).
func TestTieBreakerRunEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := NewTieBreaker([]string{"live"}, time.Second, nil)
		var dials atomic.Int32
		tb.dial = func(context.Context, string, time.Duration) error { dials.Add(1); return nil }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tb.RunEvery(ctx, 200*time.Millisecond); close(done) }()
		defer func() { cancel(); <-done }()
		time.Sleep(time.Second + time.Millisecond)
		if got := dials.Load(); got != 6 || !tb.OK() {
			t.Errorf("got %d rounds in 1s (ok %v), want 6 (at once, then every 200ms) and ok", got, tb.OK())
		}
	})
}
