package act

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/internal/clock"
	"golang.org/x/sys/unix"
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

// dialTCP connects to target ("host:port") by TCP within timeout and
// closes the connection. It runs every second on an idle node, in a fresh
// goroutine whose stack starts at 2 KiB: net.Dialer's deep call path
// (resolver, dialParallel, netFD, finalizers) needs about 3.4 KiB, so each
// round grew that stack twice, and each growth walked some 20 frames
// through the executable's pclntab, keeping pages of it resident that
// nothing else touches at rest. An IP literal without a zone, the usual
// target, is checked by connect instead, in about 1 KiB: the stack grows
// only when an allocation takes the allocator's slow path. A hostname
// still goes through net.Dialer, which resolves it and tries each of its
// addresses, as does a zoned address ("[fe80::1%eth0]:80"), whose zone
// names an interface to look up: see dialName.
func dialTCP(ctx context.Context, target string, timeout time.Duration) error {
	if ap, err := netip.ParseAddrPort(target); err == nil && ap.Addr().Zone() == "" {
		return connect(ctx, ap, target, timeout)
	}
	return dialName(ctx, target, timeout)
}

// dialName is dialTCP by net.Dialer, for a target that needs resolving. It
// is kept out of line so that the Dialer does not widen dialTCP's stack
// frame on connect's path.
//
//go:noinline
func dialName(ctx context.Context, target string, timeout time.Duration) error {
	c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", target)
	if err != nil {
		return fmt.Errorf("tie-breaker: %w", err)
	}
	return c.Close()
}

// longAgo is a deadline in the past: set on a waiting connect, it ends the
// wait at once.
var longAgo = time.Unix(1, 0)

// connect is dialTCP for an IP literal ap (spelt target, which names the
// file and the errors): a nonblocking connect(2) whose completion is
// awaited as writability through the runtime poller, by way of an os.File,
// without the net package. It fails with a *checkError that wraps the
// connect's error (a syscall.Errno such as ECONNREFUSED),
// os.ErrDeadlineExceeded once timeout has passed (none when it is 0, as
// for net.Dialer), or ctx's error once ctx is done. It closes the socket
// on every path. It starts no goroutine but the one context.AfterFunc
// starts when ctx ends while it waits.
func connect(ctx context.Context, ap netip.AddrPort, target string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil { // as net.Dialer: no connect for a round already over
		return &checkError{op: "connect", target: target, err: err}
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	fd, err := startConnect(ap, target)
	if fd < 0 {
		return err // connected at once, or failed
	}
	// From here f owns fd. os.NewFile registers a nonblocking descriptor
	// with the poller, so its deadlines bound the wait below. Closing a
	// socket that just connected cannot make its answer void: the error is
	// dropped.
	f := os.NewFile(uintptr(fd), target)
	defer f.Close()
	if err = f.SetWriteDeadline(deadline); err != nil {
		return &checkError{op: "connect", target: target, err: err}
	}
	// The round cancels ctx once one target answered: stop waiting then.
	// The function may run after f is closed; it then fails harmlessly.
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(longAgo) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return &checkError{op: "connect", target: target, err: err}
	}
	var failed error // the connect's own error, or getsockopt's
	err = rc.Write(func(fd uintptr) bool {
		// Writable is not yet connected: the poller may wake spuriously,
		// and SO_ERROR is 0 before the handshake completes too, so only a
		// peer name says connected (net.netFD.connect does the same).
		if _, err := unix.Getpeername(int(fd)); err == nil {
			return true
		}
		switch n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); {
		case err != nil:
			failed = os.NewSyscallError("getsockopt", err)
		case n != 0:
			failed = syscall.Errno(n)
		default:
			return false // still under way: wait for writability again
		}
		return true
	})
	if err == nil {
		if failed == nil {
			return nil
		}
		return &checkError{op: "connect", target: target, err: failed}
	}
	var within time.Duration
	if ctx.Err() != nil {
		err = ctx.Err()
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		within = timeout
	}
	return &checkError{op: "connect", target: target, within: within, err: err}
}

// startConnect opens a nonblocking socket and starts its connect to ap.
// It returns the socket while the connect is under way, or -1 and how the
// connect ended: nil when it connected at once. It is kept out of connect,
// whose frame would otherwise hold its locals while the wait runs deeper.
//
//go:noinline
func startConnect(ap netip.AddrPort, target string) (int, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &checkError{op: "socket", target: target, err: err}
	}
	switch err = unix.Connect(fd, sa); err {
	case unix.EINPROGRESS, unix.EINTR: // under way (EINTR too, as net.netFD.connect has it)
		return fd, nil
	case nil: // connected at once
		unix.Close(fd)
		return -1, nil
	}
	unix.Close(fd)
	return -1, &checkError{op: "connect", target: target, err: err}
}

// checkError is a failed connect: "tie-breaker: connect 127.0.0.1:5060:
// connection refused". It is formatted only when printed, as a round only
// counts failures: a target that stays down costs neither fmt's stack nor
// its allocations each round.
type checkError struct {
	op, target string
	within     time.Duration // set when the target did not answer within it
	err        error
}

func (e *checkError) Error() string {
	if e.within > 0 {
		return "tie-breaker: " + e.op + " " + e.target + ": no answer within " + e.within.String() + ": " + e.err.Error()
	}
	return "tie-breaker: " + e.op + " " + e.target + ": " + e.err.Error()
}

func (e *checkError) Unwrap() error { return e.err }

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
