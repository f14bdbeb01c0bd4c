package failover

import (
	"fmt"
	"time"
)

// Mode orders the VIP move and the local restart when a primary's service
// fails and the peer is a healthy standby.
type Mode uint8

// Modes. FailoverFirst (the default) moves the VIP at once and restarts the
// PBX afterwards, as a standby; RestartFirst gives a local restart
// RestartGrace to bring the service back before releasing.
const (
	FailoverFirst Mode = iota
	RestartFirst
)

// String returns the config spelling: "failover_first" or "restart_first".
func (m Mode) String() string {
	if m == RestartFirst {
		return "restart_first"
	}
	return "failover_first"
}

// MarshalText encodes the mode as its config spelling.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseMode reads the config spelling of a Mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "failover_first":
		return FailoverFirst, nil
	case "restart_first":
		return RestartFirst, nil
	}
	return 0, fmt.Errorf("failover: mode %q: want failover_first or restart_first", s)
}

// Failback says whether the primary role returns to the preferred node.
type Failback uint8

// Failback settings. FailbackOff (the default) leaves a recovered node
// standby; FailbackAuto performs a planned switchover to PreferredNode once it
// has been healthy for FailbackDelay.
const (
	FailbackOff Failback = iota
	FailbackAuto
)

// String returns the config spelling: "off" or "auto".
func (f Failback) String() string {
	if f == FailbackAuto {
		return "auto"
	}
	return "off"
}

// MarshalText encodes the failback setting as its config spelling.
func (f Failback) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// ParseFailback reads the config spelling of a Failback.
func ParseFailback(s string) (Failback, error) {
	switch s {
	case "", "off":
		return FailbackOff, nil
	case "auto":
		return FailbackAuto, nil
	}
	return 0, fmt.Errorf("failover: failback %q: want off or auto", s)
}

// Policy holds the decision settings; both nodes of a pair should use the
// same. Durations are wall-clock spans compared with Observation.Now.
type Policy struct {
	InitDead        time.Duration // at start-up, wait this long to hear the peer before claiming anything
	DeadAfter       time.Duration // the peer tracker's dead_after; a node takes over only after being eligible for twice this
	MaxLagBytes     uint64        // a node this many WAL bytes behind the peer does not promote
	AllowLagPromote bool          // promote past MaxLagBytes anyway (config override)
	Mode            Mode          // failover_first or restart_first
	RestartGrace    time.Duration // restart_first: time the local restart gets before releasing
	Failback        Failback      // off or auto
	FailbackDelay   time.Duration // auto: how long the preferred node must be healthy first
	PreferredNode   string        // node that wins ties and failback; "" for none
	NeedFence       bool          // a fence command must succeed before taking over from a silent peer
	// NoRestart: the PBX is not supervised (pbx.supervise.mode none), so
	// there is nothing to restart it with; Decide never chooses
	// restart_pbx and says so instead.
	NoRestart bool
	// Single: the node has no peer (no peer.paths). It is primary unless
	// in maintenance or past the PBX restart limit, and nothing moves.
	Single bool
}

// hold is how long a node must have been eligible before it takes over: twice
// dead_after. A live peer's view is never older than dead_after, so two nodes
// that each waited this long cannot both have seen the other as not ready:
// simultaneous takeovers of a standby pair are impossible.
func (p Policy) hold() time.Duration {
	d := p.DeadAfter
	if d <= 0 {
		d = DefaultDeadAfter
	}
	return 2 * d
}

// DefaultPolicy returns the defaults: init_dead 3s, dead_after 1s,
// max_lag_bytes 1 MiB, failover_first, restart_grace 10s, failback off (delay
// 5m when enabled).
func DefaultPolicy() Policy {
	return Policy{
		InitDead:      3 * time.Second,
		DeadAfter:     DefaultDeadAfter,
		MaxLagBytes:   1 << 20,
		Mode:          FailoverFirst,
		RestartGrace:  10 * time.Second,
		Failback:      FailbackOff,
		FailbackDelay: 5 * time.Minute,
	}
}
