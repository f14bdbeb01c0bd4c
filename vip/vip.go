package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// ErrAnnounce marks an Up or Announce whose address is in place but whose
// first announcement could not be sent (the interface is down, for
// example). The rest of the burst still runs in the background.
var ErrAnnounce = errors.New("first announcement failed")

// ErrNotHeld is returned by Announce when the address is not on the
// interface: pbxha never announces an address it does not hold.
var ErrNotHeld = errors.New("address not held")

var errClosed = errors.New("vip: closed")

// backend is one way of moving the address. Methods may be called from the
// VIP's methods and its announcement goroutine at the same time.
type backend interface {
	up(ctx context.Context) error
	down(ctx context.Context) error
	held(ctx context.Context) (bool, error)
	ensureAbsent(ctx context.Context) (bool, error)
	announces() bool
	announce() error
	close() error
}

// VIP is the service address of one node. Its methods are safe for
// concurrent use; Up, Down, Announce, EnsureAbsent and Close are serialised.
//
// In netlink mode a VIP works in the network namespace of the thread that
// called New: its netlink handle and sockets are opened there, once.
type VIP struct {
	cfg Config
	log *slog.Logger
	be  backend

	mu     sync.Mutex
	closed bool
	stop   context.CancelFunc // ends the announcement goroutine; nil when none runs
	done   chan struct{}      // closed when it has ended
}

// New validates cfg and prepares the VIP. In netlink mode it checks that the
// interface exists and refuses an IPv4 address that the kernel would make a
// secondary address while promote_secondaries is 0 (it would vanish with the
// node's own address), opens the netlink handle and the announcement socket
// (needs CAP_NET_ADMIN and CAP_NET_RAW). It changes nothing on the system. A
// nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*VIP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "vip", "mode", cfg.Mode.String(), "target", cfg.Address, "interface", cfg.Interface)
	v := &VIP{cfg: cfg, log: log}
	switch cfg.Mode {
	case ModeNetlink:
		prefix, _ := parseAddress(cfg.Address) // Validate checked it
		n, err := newNetlinkVIP(cfg, prefix, log)
		if err != nil {
			return nil, err
		}
		v.be = n
	case ModeScript:
		v.be = newScriptVIP(cfg, log)
	case ModeNone:
		v.be = noneVIP{}
	}
	return v, nil
}

// Up takes the address: it adds it to the interface unless it is already
// there (with any prefix length), then sends the first announcement and
// returns; the other GARPCount-1 follow every GARPInterval in the
// background, then one every Refresh while held. In script mode it runs the
// up command and waits for it. An error wrapping ErrAnnounce means the
// address is in place but the first announcement failed.
func (v *VIP) Up(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	v.stopAnnouncing()
	if err := v.be.up(ctx); err != nil {
		return err
	}
	return v.startAnnouncing()
}

// Down releases the address: it stops announcing and deletes every entry of
// the address from the interface. Releasing an address that is not there
// succeeds. In script mode it runs the down command.
func (v *VIP) Down(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	v.stopAnnouncing()
	return v.be.down(ctx)
}

// Held reports whether the address is on the interface. In script mode it
// runs the check command (exit 0: held, 1: not held); without one it reports
// what the last Up or Down left. Mode none never holds an address.
func (v *VIP) Held(ctx context.Context) (bool, error) {
	return v.be.held(ctx)
}

// Announce sends a new burst of announcements for an address this node
// holds, the first before it returns: after a split brain the surviving
// primary reclaims the clients' neighbour entries this way. It returns an
// error wrapping ErrNotHeld when the address is not here.
//
// In script mode it runs the up command again: during the split the other
// node may have moved the elastic IP or the DNS record to itself, and only
// the up script can take it back (so it must be idempotent). Mode none
// does nothing.
func (v *VIP) Announce(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	if s, ok := v.be.(*scriptVIP); ok {
		return s.up(ctx)
	}
	if !v.be.announces() {
		return nil
	}
	held, err := v.be.held(ctx)
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("vip: announce %s on %s: %w", v.cfg.Address, v.cfg.Interface, ErrNotHeld)
	}
	v.stopAnnouncing()
	return v.startAnnouncing()
}

// EnsureAbsent removes the address if this node has it, and reports whether
// it did. A node that starts as standby calls it first: an address left by a
// crash or a manual change would otherwise answer beside the primary's. In
// script mode it runs the down command unless the check command says the
// address is not here.
func (v *VIP) EnsureAbsent(ctx context.Context) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false, errClosed
	}
	v.stopAnnouncing()
	return v.be.ensureAbsent(ctx)
}

// Close stops announcing and closes the netlink handle and sockets. It
// leaves the address where it is: releasing is Down's job, and a pbxha
// restart must not drop the calls of a primary.
func (v *VIP) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	v.stopAnnouncing()
	return v.be.close()
}

// startAnnouncing sends the first announcement and starts the goroutine
// that sends the rest. Callers hold mu and have stopped any previous one.
func (v *VIP) startAnnouncing() error {
	if !v.be.announces() {
		return nil
	}
	first := v.be.announce()
	if first != nil {
		first = fmt.Errorf("%w: %w", ErrAnnounce, first)
	}
	s := schedule{Remaining: v.cfg.GARPCount - 1, Interval: v.cfg.GARPInterval, Refresh: v.cfg.Refresh}
	if s.Remaining <= 0 && s.Refresh <= 0 {
		return first
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	v.stop, v.done = cancel, done
	a := announcer{
		send: v.be.announce,
		held: func() (bool, error) { return v.be.held(ctx) },
		log:  v.log,
	}
	go func() {
		defer close(done)
		a.run(ctx, s)
	}()
	return first
}

// stopAnnouncing ends the announcement goroutine and waits for it. Callers
// hold mu.
func (v *VIP) stopAnnouncing() {
	if v.stop == nil {
		return
	}
	v.stop()
	<-v.done
	v.stop, v.done = nil, nil
}

// noneVIP is mode none: pbxha moves no address.
type noneVIP struct{}

func (noneVIP) up(context.Context) error                   { return nil }
func (noneVIP) down(context.Context) error                 { return nil }
func (noneVIP) held(context.Context) (bool, error)         { return false, nil }
func (noneVIP) ensureAbsent(context.Context) (bool, error) { return false, nil }
func (noneVIP) announces() bool                            { return false }
func (noneVIP) announce() error                            { return nil }
func (noneVIP) close() error                               { return nil }
