package failover

import (
	"errors"
	"fmt"
	"maps"
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
	Keys       Keys          // the heartbeat keys (Keys.Current at least MinKeySize bytes)
	Paths      int           // number of heartbeat paths, at least 1
	DeadAfter  time.Duration // silence on all paths (or on one path, for that path) that means dead; DefaultDeadAfter when 0
	SkewWindow time.Duration // clock skew tolerated for a new peer boot; DefaultSkewWindow when 0
	// Now stamps what Admit counts (its callers pass no time); time.Now
	// when nil. Receive takes the time from its caller.
	Now func() time.Time
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
	HealthySince time.Time         // local time since the peer reports healthy without a break, counted from when it was heard again after a silence; zero when it does not
	// ClockOffset is the peer's clock minus this node's, as far as
	// heartbeats tell: the largest sent-minus-arrival time seen lately,
	// which is the clock skew less the shortest one-way delay.
	ClockOffset time.Duration
	Version     uint8         // the heartbeat format the peer writes
	HeardBoot   BootID        // the boot of this node the peer last heard (version 2)
	HeardSeq    uint64        // and that heartbeat's sequence number
	StepDown    time.Duration // the peer's step-down budget as primary (version 2)
	Restarting  bool          // the peer's sidecar is restarting, role kept (version 2)
	// BadMACAt is when a packet from the peer's address last failed the
	// MAC (zero: never): the peer may live with another key.
	BadMACAt time.Time
	// DeadAt is when the peer counts as dead unless it is heard again:
	// DeadAfter past the last accepted heartbeat on any path (zero: never
	// heard). Alive is true before it.
	DeadAt time.Time
}

// PathState is the liveness of one heartbeat path and what it carried.
type PathState struct {
	Alive     bool              // an accepted heartbeat arrived on it within DeadAfter
	LastHeard time.Time         // local time of the last accepted heartbeat on it; zero if never
	Accepted  uint64            // heartbeats accepted on it
	Drops     map[string]uint64 // packets dropped on it, by DropReason (the transport's own drops included by the node)
}

// offsetBucket is how long one of the two buckets of the clock offset
// estimate collects: the estimate is the largest offset of the last one to
// two buckets, so it follows a clock that drifts and forgets a step within
// two buckets.
const offsetBucket = 30 * time.Second

// PeerTracker turns received heartbeat packets into the peer's view and the
// per-path liveness. Every method but Admit takes the local time; Admit
// reads TrackerConfig.Now.
// Its methods may be called concurrently.
type PeerTracker struct {
	cfg TrackerConfig

	mu        sync.Mutex
	keys      Keys
	guard     *ReplayGuard
	view      PeerView
	pathHeard []time.Time
	drops     []map[string]uint64 // by path
	accepted  []uint64            // by path
	badPath   uint64              // packets reported on a path that does not exist
	// The clock offset estimate: the largest sent-minus-arrival time of
	// the current and the previous bucket.
	offCur, offPrev time.Duration
	offStart        time.Time // when the current bucket began; zero: no estimate
	// A run of late heartbeats that may be the peer's clock stepping back:
	// how long (lateRun), how late its first was, and its newest sequence
	// number.
	lateRun int
	lateBy  time.Duration
	lateSeq uint64
}

// NewPeerTracker checks cfg and returns a tracker that has heard nothing.
func NewPeerTracker(cfg TrackerConfig) (*PeerTracker, error) {
	switch {
	case cfg.Paths < 1:
		return nil, fmt.Errorf("failover: peer tracker %s: %d paths, want at least 1", cfg.Node, cfg.Paths)
	case cfg.Keys.check() != nil:
		return nil, fmt.Errorf("failover: peer tracker %s: %w", cfg.Node, cfg.Keys.check())
	case cfg.Cluster == "" || cfg.Node == "":
		return nil, fmt.Errorf("failover: peer tracker: cluster %q and node %q must both be set", cfg.Cluster, cfg.Node)
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &PeerTracker{
		cfg:       cfg,
		keys:      cfg.Keys,
		guard:     NewReplayGuard(cfg.Paths, cfg.SkewWindow),
		pathHeard: make([]time.Time, cfg.Paths),
		drops:     make([]map[string]uint64, cfg.Paths),
		accepted:  make([]uint64, cfg.Paths),
	}
	for i := range t.drops {
		t.drops[i] = map[string]uint64{}
	}
	return t, nil
}

// SetKeys replaces the keys (a SIGHUP after a key file changed). Packets
// are checked against the new keys from the next one on.
func (t *PeerTracker) SetKeys(k Keys) error {
	if err := k.check(); err != nil {
		return fmt.Errorf("failover: peer tracker %s: %w", t.cfg.Node, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = k
	return nil
}

// delayTolerance is how much later than the peer's usual delay a heartbeat
// may arrive: half of DeadAfter (at least 50ms). One delayed longer says
// nothing about the peer now — it is a replay, or the path is so slow that
// the peer would count as dead anyway.
func (t *PeerTracker) delayTolerance() time.Duration {
	return max(t.cfg.DeadAfter/2, 50*time.Millisecond)
}

// offsetLocked returns the clock offset estimate and whether there is one.
// t.mu is held.
func (t *PeerTracker) offsetLocked() (time.Duration, bool) {
	if t.offStart.IsZero() {
		return 0, false
	}
	return max(t.offCur, t.offPrev), true
}

// noteOffset adds one accepted heartbeat's offset to the estimate; a new
// boot of the peer starts it afresh. t.mu is held.
func (t *PeerTracker) noteOffset(off time.Duration, now time.Time, newBoot bool) {
	switch {
	case newBoot || t.offStart.IsZero():
		t.offCur, t.offPrev, t.offStart = off, off, now
	case now.Sub(t.offStart) >= offsetBucket:
		t.offPrev, t.offCur, t.offStart = t.offCur, off, now
	default:
		t.offCur = max(t.offCur, off)
	}
}

// Receive authenticates packet b, which arrived on path at local time now,
// and updates the view and the path's liveness. A dropped packet is counted
// under its DropReason and its error returned; it changes nothing else.
//
// Beyond Decode and the ReplayGuard, a heartbeat of the current boot is
// dropped as ErrStale when it arrives later than the peer's usual delay by
// more than half of DeadAfter: what the measured clock offset says of its
// sent time makes it a replay or too old to prove the peer alive. Two such
// heartbeats in a row with new sequence numbers, late by the same amount,
// are the peer's clock stepping back instead: the second is accepted and
// the offset measured afresh.
func (t *PeerTracker) Receive(path int, b []byte, now time.Time) (Heartbeat, error) {
	hb, _, _, err := t.receive(path, b, now)
	return hb, err
}

// receive is Receive, and also reports whether the heartbeat was fresh (the
// first copy of its sequence number) and whether it changed the view in
// more than its times (see update): the peer came back, or what it says of
// itself changed.
func (t *PeerTracker) receive(path int, b []byte, now time.Time) (hb Heartbeat, fresh, changed bool, err error) {
	t.mu.Lock()
	keys, known := t.keys, t.view.Node
	t.mu.Unlock()
	hb, err = keys.decodeKnown(t.cfg.Cluster, b, known)
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
	newBoot := !t.view.Heard || hb.Boot != t.view.Boot
	stepped := false
	if err == nil && !newBoot {
		if est, ok := t.offsetLocked(); ok {
			if late := est - hb.Sent.Sub(now); late > t.delayTolerance() {
				if stepped = t.clockSteppedLocked(path, hb, late); !stepped {
					err = fmt.Errorf("failover: receive heartbeat from %s: %w: arrived %s later than the peer's heartbeats do (clock offset %s), beyond %s",
						hb.Node, ErrStale, late.Round(time.Millisecond), est.Round(time.Millisecond), t.delayTolerance())
				}
			} else {
				t.lateRun = 0
			}
		}
	}
	if err == nil {
		fresh, err = t.guard.Check(path, hb, now)
		if err != nil {
			err = fmt.Errorf("failover: receive heartbeat from %s: %w", hb.Node, err)
		}
	}
	if path < 0 || path >= len(t.drops) {
		t.badPath++
		return Heartbeat{}, false, false, fmt.Errorf("failover: receive heartbeat: %w: %d of %d", ErrPath, path, len(t.drops))
	}
	if err != nil {
		t.dropLocked(path, err, now)
		return Heartbeat{}, false, false, err
	}
	t.noteOffset(hb.Sent.Sub(now), now, newBoot || stepped)
	if newBoot {
		t.lateRun, t.lateSeq = 0, 0
	}
	wasAlive := t.aliveLocked(now)
	t.accepted[path]++
	t.pathHeard[path] = now
	changed = !wasAlive
	if fresh {
		changed = t.update(hb, now, wasAlive) || changed
	}
	return hb, fresh, changed, nil
}

// lateRunStep is how many heartbeats in a row, each with a new sequence
// number and late by the same amount, show that the peer's clock stepped
// back (NTP stepping a clock that ran ahead) rather than a replay: the
// second is accepted, so that the peer is silent for two intervals at
// most, less than dead_after.
const lateRunStep = 2

// clockSteppedLocked reports whether hb, late by late and not yet accepted
// on path, completes a run of heartbeats that are all equally late: the
// peer's clock stepped back. Heartbeats sent at the peer's pace keep their
// lateness; replays, sent faster than they were recorded, fall further
// behind with each one. t.mu is held.
func (t *PeerTracker) clockSteppedLocked(path int, hb Heartbeat, late time.Duration) bool {
	switch {
	case hb.Seq <= t.lateSeq || t.guard.Seen(path, hb):
		return false // a copy from another path, or a replay: no news
	case t.lateRun > 0 && (late-t.lateBy).Abs() <= t.delayTolerance()/2:
		t.lateRun++
	default:
		t.lateRun, t.lateBy = 1, late
	}
	t.lateSeq = hb.Seq
	if t.lateRun < lateRunStep {
		return false
	}
	t.lateRun = 0
	return true
}

// Admit decides whether packet b, just arrived on path, is worth queueing:
// it authenticates b and drops a replay of an accepted sequence number,
// changing nothing but the drop counters. A transport calls it (see
// Filtered) on its reader goroutines, so that forged and replayed packets
// never reach the queue; Receive checks what passes again, in full.
func (t *PeerTracker) Admit(path int, b []byte) error {
	t.mu.Lock()
	keys, known := t.keys, t.view.Node
	t.mu.Unlock()
	hb, err := keys.decodeKnown(t.cfg.Cluster, b, known)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && t.guard.Seen(path, hb) {
		err = fmt.Errorf("failover: admit heartbeat from %s: %w: seq %d on path %d", hb.Node, ErrReplay, hb.Seq, path)
	}
	if err != nil {
		t.dropLocked(path, err, t.cfg.Now())
	}
	return err
}

// dropLocked counts a dropped packet of path at now. t.mu is held.
func (t *PeerTracker) dropLocked(path int, err error, now time.Time) {
	if path < 0 || path >= len(t.drops) {
		t.badPath++
		return
	}
	t.drops[path][DropReason(err)]++
	if errors.Is(err, ErrBadMAC) {
		t.view.BadMACAt = now
	}
}

// update replaces the view with a fresh heartbeat; wasAlive says whether
// the peer was alive just before it. It reports whether the view changed in
// more than the times every heartbeat moves on (Seq, Sent, LastHeard,
// HeardSeq): those only put off the deadlines that count from them. t.mu
// is held.
func (t *PeerTracker) update(hb Heartbeat, now time.Time, wasAlive bool) bool {
	v := &t.view
	restarted := v.Heard && hb.Boot != v.Boot
	changed := !v.Heard || restarted || v.Node != hb.Node || v.Epoch != hb.Epoch || v.Role != hb.Role ||
		v.Health != hb.Health || !v.Probes.equal(hb.Probes) || v.DB != hb.DB || v.WAL != hb.WAL ||
		v.Maintenance != hb.Maintenance || v.Eligible != hb.Eligible || v.Switchover != hb.Switchover ||
		v.Version != hb.Version || v.HeardBoot != hb.HeardBoot || v.StepDown != hb.StepDown || v.Restarting != hb.Restarting
	switch {
	case hb.Health != probe.Healthy:
		v.HealthySince = time.Time{}
	case restarted, !wasAlive, v.HealthySince.IsZero():
		// Health heard before a silence says nothing of the peer now: a
		// failback counts from its return.
		v.HealthySince = now
	}
	v.Heard = true
	v.Node, v.Boot, v.Seq, v.Epoch = hb.Node, hb.Boot, hb.Seq, hb.Epoch
	v.Role, v.Health, v.Probes, v.DB, v.WAL = hb.Role, hb.Health, hb.Probes, hb.DB, hb.WAL
	v.Maintenance, v.Eligible, v.Switchover = hb.Maintenance, hb.Eligible, hb.Switchover
	v.Sent, v.LastHeard = hb.Sent, now
	v.Version, v.HeardBoot, v.HeardSeq, v.StepDown, v.Restarting = hb.Version, hb.HeardBoot, hb.HeardSeq, hb.StepDown, hb.Restarting
	return changed
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
		ps[i] = PathState{Alive: t.pathAliveLocked(i, now), LastHeard: h, Accepted: t.accepted[i], Drops: maps.Clone(t.drops[i])}
	}
	return ps
}

// nextPathDeath returns the first instant after now at which a path alive
// at now goes silent for DeadAfter unless heard again (zero: none alive).
func (t *PeerTracker) nextPathDeath(now time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	for i, h := range t.pathHeard {
		if t.pathAliveLocked(i, now) {
			if d := h.Add(t.cfg.DeadAfter); first.IsZero() || d.Before(first) {
				first = d
			}
		}
	}
	return first
}

// View returns the peer's view at now, with Alive computed for now.
func (t *PeerTracker) View(now time.Time) PeerView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.view
	v.Alive = t.aliveLocked(now)
	for _, h := range t.pathHeard {
		if !h.IsZero() {
			v.DeadAt = later(v.DeadAt, h.Add(t.cfg.DeadAfter))
		}
	}
	v.Probes.Failing = append([]string(nil), v.Probes.Failing...)
	v.ClockOffset, _ = t.offsetLocked()
	return v
}

// Counters returns how many packets were accepted and how many were dropped,
// by DropReason, over all paths.
func (t *PeerTracker) Counters() (accepted uint64, drops map[string]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	drops = map[string]uint64{}
	if t.badPath > 0 {
		drops[DropReason(ErrPath)] = t.badPath
	}
	for i := range t.drops {
		accepted += t.accepted[i]
		for k, v := range t.drops[i] {
			drops[k] += v
		}
	}
	return accepted, drops
}
