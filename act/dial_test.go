package act

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestDialTCP checks each outcome of dialTCP against real sockets on
// loopback: an IP literal goes through connect (its errors are not
// net.Dialer's *net.OpError), and a deadline or a canceled round reads as
// such.
func TestDialTCP(t *testing.T) {
	ok := testenv.TieBreaker(t)
	refused := testenv.FreeAddr(t)
	silent := testenv.SilentTCP(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context // t.Context() when nil
		target  string
		timeout time.Duration
		wantIs  error  // nil: the target answers
		wantMsg string // the whole error
	}{
		{name: "answers", target: ok},
		{name: "refused", target: refused, wantIs: syscall.ECONNREFUSED,
			wantMsg: "tie-breaker: connect " + refused + ": connection refused"},
		{name: "no answer", target: silent, timeout: 200 * time.Millisecond, wantIs: os.ErrDeadlineExceeded,
			wantMsg: "tie-breaker: connect " + silent + ": no answer within 200ms: i/o timeout"},
		{name: "canceled before", ctx: canceled, target: ok, wantIs: context.Canceled,
			wantMsg: "tie-breaker: connect " + ok + ": context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			took, err := timedDial(t, ctx, tc.target, timeout)
			if !errors.Is(err, tc.wantIs) || (err == nil) != (tc.wantIs == nil) {
				t.Fatalf("got %v, want %v", err, tc.wantIs)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("got message %q, want %q", err, tc.wantMsg)
			}
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				t.Errorf("got %v from net.Dialer, want it from connect", err)
			}
			if errors.Is(tc.wantIs, os.ErrDeadlineExceeded) && (took < timeout || took > 5*time.Second) {
				t.Errorf("gave up after %s, want after the %s timeout and within 5s", took, timeout)
			}
		})
	}
}

// TestDialTCPIPv6: connect speaks IPv6 too ([::1]), and a zoned address
// ([::1%lo]) goes through net.Dialer, whose errors are *net.OpError.
func TestDialTCPIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, "no IPv6 on loopback: "+err.Error())
	}
	testenv.ServeAccepts(t, ln)
	ok := ln.Addr().String()
	zoned := "[::1%lo]:" + port(t, ok)
	for _, target := range []string{ok, zoned} {
		if err := dialTCP(t.Context(), target, 5*time.Second); err != nil {
			t.Errorf("%s: got %v, want an answer", target, err)
		}
	}
	ln.Close()
	for _, target := range []string{ok, zoned} {
		err := dialTCP(t.Context(), target, 5*time.Second)
		var opErr *net.OpError
		if dialer := errors.As(err, &opErr); !errors.Is(err, syscall.ECONNREFUSED) || dialer != (target == zoned) {
			t.Errorf("%s closed: got %v (from net.Dialer: %v), want connection refused, from net.Dialer only when zoned", target, err, dialer)
		}
	}
}

// TestDialTCPCanceledWhileWaiting: a connect waiting for a target that
// does not answer ends once the round's context is canceled (another
// target answered), long before its own deadline. The context is canceled
// once the SYN is out, so that the wait is what gets canceled.
func TestDialTCPCanceledWhileWaiting(t *testing.T) {
	silent := testenv.SilentTCP(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		if err := testenv.Poll(5*time.Second, func() (bool, string) { return synSent(silent) }); err != nil {
			t.Errorf("waited 5s for the connect to %s to be under way: %v", silent, err)
		}
	}()
	if took, err := timedDial(t, ctx, silent, time.Minute); !errors.Is(err, context.Canceled) || took > 5*time.Second {
		t.Errorf("got %v after %s, want canceled once under way", err, took)
	}
}

// TestDialTCPNoFDLeak: checks that answer, are refused, or time out close
// their sockets: the process holds as many descriptors after them (50,
// 50 and 5) as before (the server closes its side on its own goroutine:
// wait for it).
func TestDialTCPNoFDLeak(t *testing.T) {
	ok, refused, silent := testenv.TieBreaker(t), testenv.FreeAddr(t), testenv.SilentTCP(t)
	before := testenv.OpenFDs(t, os.Getpid())
	for range 50 {
		if err := dialTCP(t.Context(), ok, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := dialTCP(t.Context(), refused, 5*time.Second); err == nil {
			t.Fatalf("%s: got an answer, want refused", refused)
		}
	}
	for range 5 {
		if _, err := timedDial(t, t.Context(), silent, time.Millisecond); err == nil {
			t.Fatalf("%s: got an answer, want a timeout", silent)
		}
	}
	testenv.WaitForReason(t, 5*time.Second, "descriptors back to their count", func() (bool, string) {
		n := testenv.OpenFDs(t, os.Getpid())
		return n == before, fmt.Sprintf("%d open, %d before", n, before)
	})
}

// TestTieBreakerRoundCancelsDials: once one target answers, the round
// ends, and the connect still waiting on a silent target is canceled and
// closes its socket, well within its own 30s deadline. The answering
// target's dial waits until the silent one's SYN is out, so that the round
// cancels a connect under way, not one yet to start.
func TestTieBreakerRoundCancelsDials(t *testing.T) {
	ok, silent := testenv.TieBreaker(t), testenv.SilentTCP(t)
	before := testenv.OpenFDs(t, os.Getpid())
	tb := NewTieBreaker([]string{silent, ok}, time.Minute, nil) // a 30s connect deadline
	tb.dial = func(ctx context.Context, target string, timeout time.Duration) error {
		if target == ok {
			if err := testenv.Poll(5*time.Second, func() (bool, string) { return synSent(silent) }); err != nil {
				t.Errorf("waited 5s for the connect to %s to be under way: %v", silent, err)
			}
		}
		return dialTCP(ctx, target, timeout)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tb.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tb.Ask(false)
	testenv.WaitFor(t, 5*time.Second, "a target answers", tb.OK)
	testenv.WaitForReason(t, 5*time.Second, "the connect to the silent target ended, its socket closed", func() (bool, string) {
		n := testenv.OpenFDs(t, os.Getpid())
		syn, why := synSent(silent)
		return n == before && !syn, fmt.Sprintf("%d descriptors open, %d before; %s", n, before, why)
	})
}

// BenchmarkDialTCP compares one check of a target that answers on
// loopback by connect with the same check by net.Dialer (the former
// dialTCP), in a cancelable context as a round's. Both counts include the
// test server's accept (6 allocations in go1.26).
func BenchmarkDialTCP(b *testing.B) {
	target := testenv.TieBreaker(b)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	b.Run("connect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := dialTCP(ctx, target, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net.Dialer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", target)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

// timedDial runs dialTCP and returns how long it took and its error. It
// fails t if the check has not returned after 10s, whatever its timeout:
// a check that ignores its deadline fails the test instead of hanging it.
func timedDial(t testing.TB, ctx context.Context, target string, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- dialTCP(ctx, target, timeout) }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: check still running after 10s (timeout %s)", target, timeout)
		return 0, nil
	}
}

// port returns the port of addr ("127.0.0.1:5060").
func port(t testing.TB, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// synSent reports whether a TCP socket on this host waits for addr
// ("127.0.0.1:5060") to answer its SYN (state SYN_SENT in /proc/net/tcp),
// and why not, or how many do.
func synSent(addr string) (bool, string) {
	ap := netip.MustParseAddrPort(addr)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, err.Error()
	}
	// The kernel prints the address as the host-order integer holding
	// its network-order bytes, and the port as a number.
	a := ap.Addr().As4()
	rem := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(a[:]), ap.Port())
	n := 0
	for line := range strings.Lines(string(b)) {
		// sl local_address rem_address st ...
		if f := strings.Fields(line); len(f) > 3 && f[2] == rem && f[3] == "02" {
			n++
		}
	}
	return n > 0, fmt.Sprintf("%d connects to %s under way", n, addr)
}
