package failover

import (
	"fmt"
	"sync"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// DefaultDeadAfter is how long the peer may stay silent on every path before
// it is taken for dead.
const DefaultDeadAfter = time.Second

// TrackerConfig configures a PeerTracker.
type TrackerConfig struct {
	Cluster    string        // pair name; heartbeats of other clusters are dropped
	Node       string        // this node's name; heartbeats carrying it are dropped
	Key        []byte        // shared HMAC key, at least MinKeySize bytes
	Paths      int           // number of heartbeat paths, at least 1
	DeadAfter  time.Duration // silence on all paths (or on one path, for that path) that means dead; DefaultDeadAfter when 0
	SkewWindow time.Duration // clock skew tolerated for a new peer boot; DefaultSkewWindow when 0
}

// PeerView is what this node knows of its peer: the newest accepted
// heartbeat, when it was heard, and whether the peer counts as alive. The
// fields of the last heartbeat stay after the peer dies, so that a standby
// still knows the dead primary's epoch and WAL position.
type PeerView struct {
	Heard        bool              // a heartbeat was accepted since this node started
	Alive        bool              // heard on some path within DeadAfter
	Node         string            // peer's node name
	Boot         BootID            // peer's boot id
	Seq          uint64            // sequence number of the newest heartbeat
	Epoch        uint64            // peer's epoch
	Role         Role              // peer's role
	Health       probe.Health      // peer's health
	Probes       ProbeSummary      // peer's probe verdicts
	DB           DBRole            // peer's database role
	WAL          uint64            // peer's WAL position
	Maintenance  bool              // maintenance mode is on at the peer
	Eligible     bool              // the peer could take over
	Switchover   SwitchoverRequest // the peer's pending switchover request
	Sent         time.Time         // peer's clock when it sent the newest heartbeat
	LastHeard    time.Time         // local time the newest heartbeat arrived
	HealthySince time.Time         // local time since the peer reports healthy without a break; zero when it does not
	ClockOffset  time.Duration     // peer's Sent minus local arrival time (clock skew plus one-way delay)
}

// PathState is the liveness of one heartbeat path.
type PathState struct {
	Alive     bool      // an accepted heartbeat arrived on it within DeadAfter
	LastHeard time.Time // local time of the last accepted heartbeat on it; zero if never
}

// PeerTracker turns received heartbeat packets into the peer's view and the
// per-path liveness. It reads no clock: every method takes the local time.
// Its methods may be called concurrently.
type PeerTracker struct {
	cfg TrackerConfig

	mu        sync.Mutex
	guard     *ReplayGuard
	view      PeerView
	pathHeard []time.Time
	drops     map[string]uint64
	accepted  uint64
}

// NewPeerTracker checks cfg and returns a tracker that has heard nothing.
func NewPeerTracker(cfg TrackerConfig) (*PeerTracker, error) {
	switch {
	case cfg.Paths < 1:
		return nil, fmt.Errorf("failover: peer tracker %s: %d paths, want at least 1", cfg.Node, cfg.Paths)
	case len(cfg.Key) < MinKeySize:
		return nil, fmt.Errorf("failover: peer tracker %s: key is %d bytes, want at least %d", cfg.Node, len(cfg.Key), MinKeySize)
	case cfg.Cluster == "" || cfg.Node == "":
		return nil, fmt.Errorf("failover: peer tracker: cluster %q and node %q must both be set", cfg.Cluster, cfg.Node)
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	return &PeerTracker{
		cfg:       cfg,
		guard:     NewReplayGuard(cfg.Paths, cfg.SkewWindow),
		pathHeard: make([]time.Time, cfg.Paths),
		drops:     map[string]uint64{},
	}, nil
}

// Receive authenticates packet b, which arrived on path at local time now,
// and updates the view and the path's liveness. A dropped packet is counted
// under its DropReason and its error returned; it changes nothing else.
func (t *PeerTracker) Receive(path int, b []byte, now time.Time) (Heartbeat, error) {
	hb, err := Decode(t.cfg.Key, t.cfg.Cluster, b)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && hb.Node == t.cfg.Node {
		err = fmt.Errorf("failover: receive heartbeat: %w %q on path %d", ErrSelf, hb.Node, path)
	}
	if err == nil && t.view.Heard && hb.Node != t.view.Node && t.aliveLocked(now) {
		// A pair has one peer: a second name while the peer lives is a third
		// node holding the key. A renamed peer is accepted once the old name
		// has gone silent.
		err = fmt.Errorf("failover: receive heartbeat: %w: node %q, peer is %q", ErrMalformed, hb.Node, t.view.Node)
	}
	var fresh bool
	if err == nil {
		fresh, err = t.guard.Check(path, hb, now)
		if err != nil {
			err = fmt.Errorf("failover: receive heartbeat from %s: %w", hb.Node, err)
		}
	}
	if err != nil {
		t.drops[DropReason(err)]++
		return Heartbeat{}, err
	}
	t.accepted++
	t.pathHeard[path] = now
	if fresh {
		t.update(hb, now)
	}
	return hb, nil
}

// update replaces the view with a fresh heartbeat. t.mu is held.
func (t *PeerTracker) update(hb Heartbeat, now time.Time) {
	v := &t.view
	restarted := v.Heard && hb.Boot != v.Boot
	switch {
	case hb.Health != probe.Healthy:
		v.HealthySince = time.Time{}
	case restarted, v.HealthySince.IsZero():
		v.HealthySince = now
	}
	v.Heard = true
	v.Node, v.Boot, v.Seq, v.Epoch = hb.Node, hb.Boot, hb.Seq, hb.Epoch
	v.Role, v.Health, v.Probes, v.DB, v.WAL = hb.Role, hb.Health, hb.Probes, hb.DB, hb.WAL
	v.Maintenance, v.Eligible, v.Switchover = hb.Maintenance, hb.Eligible, hb.Switchover
	v.Sent, v.LastHeard, v.ClockOffset = hb.Sent, now, hb.Sent.Sub(now)
}

// Alive reports whether an accepted heartbeat arrived on any path within
// DeadAfter before now.
func (t *PeerTracker) Alive(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aliveLocked(now)
}

func (t *PeerTracker) aliveLocked(now time.Time) bool {
	for i := range t.pathHeard {
		if t.pathAliveLocked(i, now) {
			return true
		}
	}
	return false
}

func (t *PeerTracker) pathAliveLocked(i int, now time.Time) bool {
	h := t.pathHeard[i]
	return !h.IsZero() && now.Sub(h) < t.cfg.DeadAfter
}

// PathAlive reports whether path i carried an accepted heartbeat within
// DeadAfter before now. A path index out of range is never alive.
func (t *PeerTracker) PathAlive(i int, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return i >= 0 && i < len(t.pathHeard) && t.pathAliveLocked(i, now)
}

// Paths returns the liveness of every path at now, by path index.
func (t *PeerTracker) Paths(now time.Time) []PathState {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := make([]PathState, len(t.pathHeard))
	for i, h := range t.pathHeard {
		ps[i] = PathState{Alive: t.pathAliveLocked(i, now), LastHeard: h}
	}
	return ps
}

// View returns the peer's view at now, with Alive computed for now.
func (t *PeerTracker) View(now time.Time) PeerView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.view
	v.Alive = t.aliveLocked(now)
	v.Probes.Failing = append([]string(nil), v.Probes.Failing...)
	return v
}

// Counters returns how many packets were accepted and how many were dropped,
// by DropReason.
func (t *PeerTracker) Counters() (accepted uint64, drops map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	drops = make(map[string]uint64, len(t.drops))
	for k, v := range t.drops {
		drops[k] = v
	}
	return t.accepted, drops
}
