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
	LagTransactions bool          // MaxLagBytes and positions count transactions (MariaDB/MySQL GTIDs), not WAL bytes
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

	// Interval is the heartbeat interval (both nodes use the same).
	Interval time.Duration
	// IsolationAfter: a primary that has not been heard by its peer, nor
	// reached a tie-breaker target, for this long steps down.
	IsolationAfter time.Duration
	// StepDown is this node's step-down budget: how long its step-down
	// (database, then VIP) takes at most. It is announced to the peer.
	StepDown time.Duration
	// Witness: before taking over from a silent peer, ask whether another
	// node still answers on the VIP (netlink mode, IPv4); if one does, the
	// peer still serves and this node does not take over.
	Witness bool
	// FailbackDrain bounds how long a failback waits for the active calls
	// to end; FailbackWindow, when set, is the time of day it may happen.
	FailbackDrain  time.Duration
	FailbackWindow Window
	// RestartHold: a standby holds off a takeover this long after the
	// last heartbeat of a primary that said its sidecar was restarting
	// with the role kept (DefaultRestartHold when 0). With the witness,
	// only while another node still answers on the VIP.
	RestartHold time.Duration
}

func (p Policy) restartHold() time.Duration {
	if p.RestartHold <= 0 {
		return DefaultRestartHold
	}
	return p.RestartHold
}

// Window is a daily span of local time, From up to To (which may be past
// midnight: 22:00-05:00). The zero Window is always open.
type Window struct {
	From, To time.Duration // since midnight
}

// Open reports whether t's time of day (in t's location) is inside w.
func (w Window) Open(t time.Time) bool {
	if w.From == w.To {
		return true
	}
	y, m, d := t.Date()
	tod := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))
	if w.From < w.To {
		return tod >= w.From && tod < w.To
	}
	return tod >= w.From || tod < w.To
}

// String renders the window as HH:MM-HH:MM, "" when always open.
func (w Window) String() string {
	if w.From == w.To {
		return ""
	}
	hm := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return hm(w.From) + "-" + hm(w.To)
}

// ParseWindow reads "HH:MM-HH:MM" ("" is the always-open Window).
func ParseWindow(s string) (Window, error) {
	if s == "" {
		return Window{}, nil
	}
	var fh, fm, th, tm int
	if n, err := fmt.Sscanf(s, "%d:%d-%d:%d", &fh, &fm, &th, &tm); err != nil || n != 4 ||
		fh < 0 || fh > 23 || th < 0 || th > 23 || fm < 0 || fm > 59 || tm < 0 || tm > 59 || fmt.Sprintf("%02d:%02d-%02d:%02d", fh, fm, th, tm) != s {
		return Window{}, fmt.Errorf("failover: window %q: want HH:MM-HH:MM, e.g. 01:00-05:00", s)
	}
	w := Window{From: time.Duration(fh)*time.Hour + time.Duration(fm)*time.Minute, To: time.Duration(th)*time.Hour + time.Duration(tm)*time.Minute}
	if w.From == w.To {
		return Window{}, fmt.Errorf("failover: window %q: empty, from and to are the same", s)
	}
	return w, nil
}

// tick is the decision period: a quarter of the heartbeat interval, at
// least 10ms (see NodeConfig.Interval).
func (p Policy) tick() time.Duration {
	iv := p.Interval
	if iv <= 0 {
		iv = DefaultInterval
	}
	return decideEvery(iv)
}

// TakeoverWait is how long a standby lets a silent peer be silent before it
// takes over (unless a fence succeeded): at least dead_after, and long
// enough that the peer, if it is only cut off, has stepped down by then.
//
// Cut off from everything, the peer steps down IsolationAfter after the
// last of its heartbeats this node heard was sent (its link or its
// tie-breakers went at most one interval later), a tick later at worst,
// and is done within peerBudget, the step-down budget it announced. Cut off
// one way only — it still hears this node, this node not it — it learns
// from this node's heartbeats that it is not heard and steps down after
// OneWayAfter, which the wait covers too unless the VIP witness is used
// (then the witness, not a step-down, keeps this node from taking over
// from a peer that still serves). A margin covers clocks that run at
// slightly different rates, and scheduling.
func (p Policy) TakeoverWait(peerBudget time.Duration) time.Duration {
	if p.IsolationAfter <= 0 {
		return p.deadAfter()
	}
	iv := p.interval()
	w := iv + p.IsolationAfter + 2*p.tick() + peerBudget
	if p.oneWay() {
		w = max(w, p.OneWayAfter()+iv+2*p.tick()+peerBudget)
	}
	w += w/100 + 10*time.Millisecond
	return max(p.deadAfter(), w)
}

// oneWay reports whether a primary steps down when its live peer no longer
// hears it: with isolation on and the VIP witness off.
func (p Policy) oneWay() bool { return p.IsolationAfter > 0 && !p.Witness }

// OneWayAfter is how long before its arrival a live, eligible peer's newest
// heartbeat may say it last heard this primary before the primary steps
// down (without the witness): four heartbeat intervals, so that the
// heartbeats a lossy link drops now and then — three in a row on every path
// — do not look like a one-way cut.
func (p Policy) OneWayAfter() time.Duration { return 4 * p.interval() }

func (p Policy) interval() time.Duration {
	if p.Interval <= 0 {
		return DefaultInterval
	}
	return p.Interval
}

func (p Policy) deadAfter() time.Duration {
	if p.DeadAfter <= 0 {
		return DefaultDeadAfter
	}
	return p.DeadAfter
}

// hold is how long a node must have been eligible before it takes over: twice
// dead_after. A live peer's view is never older than dead_after, so two nodes
// that each waited this long cannot both have seen the other as not ready:
// simultaneous takeovers of a standby pair are impossible.
func (p Policy) hold() time.Duration { return 2 * p.deadAfter() }

// Policy defaults that no other package owns.
const (
	// DefaultIsolationAfter: a primary unheard by its peer and cut off from
	// its tie-breakers this long steps down.
	DefaultIsolationAfter = 400 * time.Millisecond
	// DefaultStepDown is the step-down budget of a node without a managed
	// database (the VIP goes in milliseconds).
	DefaultStepDown = 100 * time.Millisecond
	// DefaultFailbackDrain bounds a failback's wait for active calls.
	DefaultFailbackDrain = 5 * time.Minute
)

// The fast profile (failover.profile: fast): the timings that bring a lost
// node's takeover under 0.3 s. A quarter of the defaults' heartbeat
// interval and step-down budget wait (the latter for a node without a
// managed database: the VIP goes in milliseconds), dead_after three
// heartbeats, isolation_after a quarter of the default's plus 25ms: at
// 75ms, primaries under 20 % heartbeat loss on a loaded host stepped down as
// isolated (5 times in 5 minutes of the chaos soak, their tie-breaker
// unanswered for 80–95ms), at 100ms none did. The takeover wait is then
// max(150ms, 50+100+2×12.5+20 ms +1 % +10 ms) = 207 ms (308 ms without the
// VIP witness). docs/pair.md, "The fast profile".
const (
	FastInterval       = 50 * time.Millisecond
	FastDeadAfter      = 150 * time.Millisecond
	FastIsolationAfter = 100 * time.Millisecond
	FastStepDown       = 20 * time.Millisecond
)

// DefaultPolicy returns the defaults: init_dead 3s, dead_after 1s,
// max_lag_bytes 1 MiB, failover_first, restart_grace 10s, failback off (delay
// 5m, drain 5m, any time when enabled), heartbeat interval 200ms,
// isolation_after 400ms, step-down budget 100ms, no witness.
func DefaultPolicy() Policy {
	return Policy{
		InitDead:       3 * time.Second,
		DeadAfter:      DefaultDeadAfter,
		MaxLagBytes:    1 << 20,
		Mode:           FailoverFirst,
		RestartGrace:   10 * time.Second,
		Failback:       FailbackOff,
		FailbackDelay:  5 * time.Minute,
		FailbackDrain:  DefaultFailbackDrain,
		Interval:       DefaultInterval,
		IsolationAfter: DefaultIsolationAfter,
		StepDown:       DefaultStepDown,
	}
}
