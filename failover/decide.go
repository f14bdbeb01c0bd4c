package failover

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
)

// Observation is one snapshot of everything Decide looks at. The daemon builds
// it from the probes, the peer tracker, the supervisor and the fence and
// tie-breaker results; Decide reads no clock and performs no I/O.
type Observation struct {
	Now            time.Time         // the time of the snapshot
	Node           string            // this node's name
	Role           Role              // this node's current role
	Epoch          uint64            // this node's persisted epoch
	Health         probe.Health      // this node's health
	PBXFault       bool              // the PBX restart limit was reached: not eligible
	Maintenance    bool              // maintenance mode is on here
	StartedAt      time.Time         // when this sidecar started (for init_dead)
	Peer           PeerView          // the peer as last heard (PeerTracker.View)
	DB             DBRole            // this node's database role
	WAL            uint64            // primary: current WAL LSN; standby: replayed LSN
	TieBreakerOK   bool              // at least one tie-breaker target answered recently
	Fence          FenceState        // outcome of the fence command for this takeover attempt
	RestartPending bool              // a PBX restart is under way or waiting out its back-off
	FailedSince    time.Time         // when Health last turned failed (restart_first grace)
	EligibleSince  time.Time         // since when this node's decisions said Eligible without a break (Decision.EligibleSince); zero if not
	Switchover     SwitchoverRequest // an operator's request made on this node, if any
	DBOnlyFailed   bool              // Health is failed only because of database probes: no PBX restart
	// NoStreamingStandby: this node's database is primary and no standby
	// streams WAL from it (or that could not be read lately). A planned
	// release then waits: see situation.primary.
	NoStreamingStandby bool
	// Busy is the action an earlier decision started that has not finished
	// yet (ActionNone: none). Actions run apart from the decision loop, one
	// at a time: while one runs, nothing else is started and the role stays.
	Busy Action
	// RetryAt holds, per action, the earliest time it may run again: after
	// it failed, and for restart_pbx after it ran (nil: no hold).
	RetryAt map[Action]time.Time
	// LastAnnounce is when the VIP was last re-announced (re_announce).
	LastAnnounce time.Time
}

// Decision is what Decide chose: one action, the role to be in once it is
// carried out, the epoch to persist, and why.
type Decision struct {
	Action    Action // the one thing to do now
	Role      Role   // the role to hold after the action succeeds
	NextEpoch uint64 // the epoch to persist (fsync) before acting
	Reason    string // one line for logs and `pbxha status`
	Eligible  bool   // this node could take over now; sent in the next heartbeat
	Alert     string // an event kind to raise (event.SplitBrain), or ""
	// Force: the takeover may promote the database past max_lag_bytes (a
	// forced switchover to this node asked for it).
	Force bool
}

// ReAnnounceEvery is the least time between two re_announce actions while
// two primaries meet.
const ReAnnounceEvery = time.Second

// Decide chooses the next step for this node. It is pure: the same
// observation and policy always give the same decision.
//
// A node without a peer (Policy.Single) is primary, unless in maintenance
// or past its PBX restart limit (fault); it never takes over or releases.
//
// For a node of a pair, the rules, in order: maintenance on either node
// freezes all automatic action; two primaries that meet resolve by epoch
// (tie: the preferred node, then the lower node name, stays); a primary
// whose service failed releases only to a healthy eligible standby
// (failover_first at once, restart_first after restart_grace) and otherwise
// keeps the VIP and restarts; planned switchover and failback release to a
// healthy standby, and with a managed database only while a standby streams
// from it (unless the switchover is forced); a standby waits for a live
// primary, and takes over from a peer that is dead, released or not
// eligible — only when it serves, reaches a tie-breaker target, is within
// max_lag_bytes (unless forced), has been eligible for twice dead_after (so
// that two standbys never take over at once; not needed when a switchover
// the live peer knows of names this node) and, for a silent peer with
// fencing configured, after the fence succeeded. At start-up nothing is
// claimed until the peer is heard or init_dead has passed.
//
// Then the holds: while an earlier action runs (Busy) nothing starts and the
// role stays; an action that failed a moment ago (RetryAt) waits, in the
// role held now; the VIP is re-announced at most every ReAnnounceEvery. A
// release never raises the epoch: the node learns the peer's epoch once it
// is standby (heartbeats that said "primary at the peer's epoch" during a
// slow release would tie, and a peer this node outranks would release too).
func Decide(o Observation, p Policy) Decision {
	s := situation{o: o, p: p, peer: o.Peer.Node}
	if s.peer == "" {
		s.peer = "peer"
	}
	d := Decision{Role: o.Role, NextEpoch: o.Epoch}
	if p.Single {
		return s.single(d)
	}
	d.Eligible = s.eligible()
	d.NextEpoch = s.learnedEpoch()
	if o.Role == RolePrimary && o.Peer.Alive && o.Peer.Role == RolePrimary {
		d.Alert = event.SplitBrain
	}
	switch {
	case o.Maintenance:
		if o.Role != RolePrimary {
			d.Role = RoleMaintenance
		}
		d = d.with(ActionNone, "maintenance mode: automatic action frozen")
	case o.Peer.Alive && o.Peer.Maintenance:
		if o.Role == RoleInit || o.Role == RoleMaintenance {
			d.Role = RoleStandby
		}
		d = d.with(ActionNone, fmt.Sprintf("peer %s in maintenance mode: automatic action frozen", s.peer))
	case o.Role == RolePrimary:
		d = s.primary(d)
	default:
		d = s.secondary(d)
	}
	return s.hold(d)
}

// single decides for a node without a peer: its role only.
func (s situation) single(d Decision) Decision {
	switch {
	case s.o.Maintenance:
		d.Role = RoleMaintenance
		return d.with(ActionNone, "single node in maintenance mode: automatic action frozen")
	case s.o.PBXFault:
		d.Role = RoleFault
		return d.with(ActionNone, "single node past the PBX restart limit")
	}
	d.Role = RolePrimary
	return d.with(ActionNone, "single node: primary")
}

// learnedEpoch is the epoch to hold without acting: a node that is not
// primary learns the pair's epoch from the peer.
func (s situation) learnedEpoch() uint64 {
	o := s.o
	if o.Role != RolePrimary && o.Peer.Heard && o.Peer.Epoch > o.Epoch {
		return o.Peer.Epoch
	}
	return o.Epoch
}

// hold applies the rules that keep a chosen action from starting now: an
// action still running, a retry delay, the re-announce rate.
func (s situation) hold(d Decision) Decision {
	o := s.o
	keep := func(reason string) Decision {
		d.Action, d.Reason, d.Force = ActionNone, reason, false
		d.Role, d.NextEpoch = o.Role, s.learnedEpoch()
		return d
	}
	switch {
	case o.Busy != ActionNone:
		return keep(fmt.Sprintf("%s under way; %s", o.Busy, d.Reason))
	case d.Action == ActionNone || d.Action == ActionFencePeer:
		// The fence's own retry rule is in secondary.
		return d
	case d.Action == ActionReAnnounce && o.Now.Sub(o.LastAnnounce) < ReAnnounceEvery:
		d.Action = ActionNone
		return d
	}
	if wait := o.RetryAt[d.Action].Sub(o.Now); wait > 0 {
		// The same action failed (or, for restart_pbx, ran) a moment ago:
		// wait, in the role held now.
		return keep(fmt.Sprintf("%s; %s again in %s", d.Reason, d.Action, wait.Round(time.Millisecond)))
	}
	return d
}

// EligibleSince returns the Observation.EligibleSince for the next call:
// prev carried on while this decision is eligible, now when it just became
// eligible, zero when it is not.
func (d Decision) EligibleSince(prev, now time.Time) time.Time {
	switch {
	case !d.Eligible:
		return time.Time{}
	case prev.IsZero():
		return now
	}
	return prev
}

func (d Decision) with(a Action, reason string) Decision {
	d.Action, d.Reason = a, reason
	return d
}

// situation carries the inputs and derived facts of one Decide call.
type situation struct {
	o    Observation
	p    Policy
	peer string // peer's name for reasons
}

// serves: health good enough to carry the service (healthy or degraded).
func serves(h probe.Health) bool { return h == probe.Healthy || h == probe.HealthDegraded }

// lag returns how many WAL bytes this node is behind the peer, when both run a
// managed database and the peer was heard.
func (s situation) lag() uint64 {
	o := s.o
	if o.DB == DBNone || !o.Peer.Heard || o.Peer.DB == DBNone || o.Peer.WAL <= o.WAL {
		return 0
	}
	return o.Peer.WAL - o.WAL
}

// request returns the switchover in force (local first, then the peer's),
// with an empty target resolved to the node that is not primary now.
func (s situation) request() (SwitchoverRequest, bool) {
	r := s.o.Switchover
	if !r.Active() && s.o.Peer.Alive {
		r = s.o.Peer.Switchover
	}
	if !r.Active() {
		return r, false
	}
	if r.Target == "" {
		if s.o.Role == RolePrimary {
			r.Target = s.o.Peer.Node
		} else {
			r.Target = s.o.Node
		}
	}
	return r, true
}

// forced: a switchover to this node with --force.
func (s situation) forced() bool {
	r, ok := s.request()
	return ok && r.Force && r.Target == s.o.Node
}

// lagOK: within max_lag_bytes, or allowed past it.
func (s situation) lagOK() bool {
	return s.lag() <= s.p.MaxLagBytes || s.p.AllowLagPromote || s.forced()
}

// eligible: this node could take over now, as told to the peer.
func (s situation) eligible() bool {
	o := s.o
	return !o.Maintenance && !o.PBXFault && serves(o.Health) && o.TieBreakerOK &&
		(o.Role == RolePrimary || s.lagOK())
}

// peerReady: the peer is a live standby that could take over.
func (s situation) peerReady() bool {
	v := s.o.Peer
	return v.Alive && v.Role == RoleStandby && v.Eligible && !v.Maintenance && serves(v.Health)
}

// wins reports whether this node outranks the peer when epochs tie: the
// preferred node, else the lower node name.
func (s situation) wins() bool {
	switch s.p.PreferredNode {
	case s.o.Node:
		return true
	case s.o.Peer.Node:
		return false
	}
	return s.o.Node < s.o.Peer.Node
}

func (s situation) primary(d Decision) Decision {
	o, p := s.o, s.p
	v := o.Peer
	if v.Alive && v.Role == RolePrimary {
		if v.Epoch > o.Epoch || (v.Epoch == o.Epoch && !s.wins()) {
			d.Role = RoleStandby // the peer's epoch is learnt once released
			return d.with(ActionRelease, fmt.Sprintf("split brain: %s is primary at epoch %d, ours %d: releasing", s.peer, v.Epoch, o.Epoch))
		}
		return d.with(ActionReAnnounce, fmt.Sprintf("split brain: %s is also primary at epoch %d, ours %d: staying primary, re-announcing the VIP", s.peer, v.Epoch, o.Epoch))
	}
	release := func(role Role, reason string) Decision {
		d.Role, d.NextEpoch = role, o.Epoch // the peer's epoch is learnt once released
		return d.with(ActionRelease, reason)
	}
	restart := func(reason string) Decision {
		if p.NoRestart {
			return d.with(ActionNone, reason+"; the PBX is not supervised: not restarting it")
		}
		if o.DBOnlyFailed {
			return d.with(ActionNone, reason+"; only the database failed: not restarting the PBX")
		}
		if o.RestartPending {
			return d.with(ActionNone, reason+"; PBX restart under way")
		}
		return d.with(ActionRestartPBX, reason+"; restarting the PBX")
	}
	switch {
	case o.PBXFault && s.peerReady():
		return release(RoleFault, fmt.Sprintf("restart limit reached: releasing to healthy standby %s", s.peer))
	case o.PBXFault:
		return d.with(ActionNone, fmt.Sprintf("restart limit reached, but %s is not a healthy standby (%s): keeping the VIP", s.peer, s.peerState()))
	case o.Health == probe.HealthFailed && !s.peerReady():
		return restart(fmt.Sprintf("service failed, but %s is not a healthy standby (%s): keeping the VIP", s.peer, s.peerState()))
	case o.Health == probe.HealthFailed && p.Mode == RestartFirst:
		var failedFor time.Duration
		if !o.FailedSince.IsZero() {
			failedFor = o.Now.Sub(o.FailedSince)
		}
		if failedFor >= p.RestartGrace {
			return release(RoleStandby, fmt.Sprintf("service failed and restart_grace %s passed: releasing to healthy standby %s", p.RestartGrace, s.peer))
		}
		return restart(fmt.Sprintf("service failed: restart_first, %s of restart_grace %s left before releasing to %s", (p.RestartGrace - failedFor).Round(time.Millisecond), p.RestartGrace, s.peer))
	case o.Health == probe.HealthFailed:
		return release(RoleStandby, fmt.Sprintf("service failed: moving the VIP to healthy standby %s first, the restart follows", s.peer))
	}
	// A planned release (switchover, failback) also waits while no standby
	// streams from this node's database. The demotion's fast shutdown sends
	// every connected streaming standby the rest of the WAL before it
	// stops, so nothing acknowledged is lost; a standby whose WAL receiver
	// is not streaming can be within max_lag_bytes and still lack the last
	// writes, which its promotion would drop without a word. The unplanned
	// releases above do not wait: the service here has failed (or
	// restarts no longer help), and keeping the VIP on it is an outage now;
	// the standby's max_lag_bytes decides whether it may promote.
	if r, ok := s.request(); ok && r.Target != o.Node {
		switch {
		case !s.peerReady() || o.Peer.Health != probe.Healthy || r.Target != v.Node:
			return d.with(ActionNone, fmt.Sprintf("switchover %d to %s waits: it is not a healthy eligible standby (%s)", r.ID, r.Target, s.peerState()))
		case o.NoStreamingStandby && !r.Force:
			return d.with(ActionNone, fmt.Sprintf("switchover %d to %s waits: %s; --force moves anyway", r.ID, s.peer, noStreaming))
		case o.NoStreamingStandby:
			return release(RoleStandby, fmt.Sprintf("switchover %d to %s, forced: releasing although %s", r.ID, s.peer, noStreaming))
		}
		return release(RoleStandby, fmt.Sprintf("switchover %d to %s: releasing", r.ID, s.peer))
	}
	if p.Failback == FailbackAuto && p.PreferredNode != "" && p.PreferredNode != o.Node &&
		p.PreferredNode == v.Node && s.peerReady() && v.Health == probe.Healthy && !v.HealthySince.IsZero() {
		if healthy := o.Now.Sub(v.HealthySince); healthy >= p.FailbackDelay {
			if o.NoStreamingStandby {
				return d.with(ActionNone, fmt.Sprintf("failback to preferred node %s waits: %s", s.peer, noStreaming))
			}
			return release(RoleStandby, fmt.Sprintf("failback to preferred node %s, healthy for %s: releasing", s.peer, healthy.Round(time.Second)))
		}
	}
	return d.with(ActionNone, fmt.Sprintf("primary at epoch %d; %s", o.Epoch, s.peerState()))
}

// noStreaming says why a planned release waits for a streaming standby.
const noStreaming = "no standby is streaming from this node's database (writes it has not received would be lost)"

// peerState describes the peer in a few words.
func (s situation) peerState() string {
	v := s.o.Peer
	switch {
	case !v.Heard:
		return fmt.Sprintf("%s never heard", s.peer)
	case !v.Alive:
		return fmt.Sprintf("%s silent since %s", s.peer, v.LastHeard.Format(time.RFC3339Nano))
	case v.Maintenance:
		return fmt.Sprintf("%s in maintenance", s.peer)
	}
	el := "eligible"
	if !v.Eligible {
		el = "not eligible"
	}
	return fmt.Sprintf("%s is %s, %s, %s", s.peer, v.Role, v.Health, el)
}

func (s situation) secondary(d Decision) Decision {
	o, p := s.o, s.p
	v := o.Peer
	if o.Role == RoleInit && !v.Alive && o.Now.Sub(o.StartedAt) < p.InitDead {
		left := p.InitDead - o.Now.Sub(o.StartedAt)
		return d.with(ActionNone, fmt.Sprintf("start-up: waiting to hear the peer (%s of init_dead %s left)", left.Round(time.Millisecond), p.InitDead))
	}
	d.Role = RoleStandby
	switch {
	case o.PBXFault:
		d.Role = RoleFault
		return d.with(ActionNone, "restart limit reached: not eligible until the fault is cleared")
	case o.Health == probe.HealthFailed && o.DBOnlyFailed:
		return d.with(ActionNone, "standby, only its database failed: not restarting the PBX")
	case o.Health == probe.HealthFailed && p.NoRestart:
		return d.with(ActionNone, "standby, service failed; the PBX is not supervised: waiting for it to recover")
	case o.Health == probe.HealthFailed && o.RestartPending:
		return d.with(ActionNone, "standby, service failed; PBX restart under way")
	case o.Health == probe.HealthFailed:
		return d.with(ActionRestartPBX, "standby, service failed: restarting the PBX")
	case v.Alive && v.Role == RolePrimary:
		if r, ok := s.request(); ok && r.Target == o.Node {
			return d.with(ActionNone, fmt.Sprintf("switchover %d: waiting for %s to release", r.ID, s.peer))
		}
		return d.with(ActionNone, fmt.Sprintf("standby; %s", s.peerState()))
	}
	// No live primary: decide whether this node should be the one.
	var why string
	// designated: a switchover names this node and the peer, alive, knows
	// it — the peer will not take over, so the eligibility hold that keeps
	// two nodes from claiming at once is not needed.
	designated := false
	switch {
	case !v.Heard:
		why = fmt.Sprintf("%s not heard within init_dead %s", s.peer, p.InitDead)
	case !v.Alive:
		why = fmt.Sprintf("%s silent since %s", s.peer, v.LastHeard.Format(time.RFC3339Nano))
	case v.Role == RoleInit && !v.Eligible:
		why = fmt.Sprintf("%s is starting and not eligible yet (health %s)", s.peer, v.Health)
	case !v.Eligible || !serves(v.Health):
		why = fmt.Sprintf("%s released and is not eligible (%s, %s)", s.peer, v.Role, v.Health)
	default:
		// Both could serve: one rule both sides compute alike picks one.
		if r, ok := s.request(); ok && (r.Target == o.Node || r.Target == v.Node) {
			if r.Target != o.Node {
				return d.with(ActionNone, fmt.Sprintf("switchover %d: %s is to take over", r.ID, s.peer))
			}
			why, designated = fmt.Sprintf("switchover %d to this node", r.ID), true
		} else if !s.wins() {
			return d.with(ActionNone, fmt.Sprintf("no primary; %s outranks this node and is eligible", s.peer))
		} else {
			why = fmt.Sprintf("no primary; this node outranks %s", s.peer)
		}
	}
	switch {
	case !serves(o.Health):
		return d.with(ActionNone, fmt.Sprintf("%s, but not eligible: health %s", why, o.Health))
	case !o.TieBreakerOK:
		return d.with(ActionNone, fmt.Sprintf("%s, but no tie-breaker target reachable: not taking over", why))
	case !s.lagOK():
		return d.with(ActionNone, fmt.Sprintf("%s, but %d WAL bytes behind %s (max_lag_bytes %d): not promoting without --force", why, s.lag(), s.peer, p.MaxLagBytes))
	case !designated && (o.EligibleSince.IsZero() || o.Now.Sub(o.EligibleSince) < p.hold()):
		var heldFor time.Duration
		if !o.EligibleSince.IsZero() {
			heldFor = o.Now.Sub(o.EligibleSince)
		}
		return d.with(ActionNone, fmt.Sprintf("%s, but eligible for only %s of %s: letting the peer hear it first", why, heldFor.Round(time.Millisecond), p.hold()))
	case p.NeedFence && !v.Alive && (o.Fence == FenceUnknown || (o.Fence == FenceFailed && !o.Now.Before(o.RetryAt[ActionFencePeer]))):
		// Fencing is per silent-peer episode (the daemon resets the state
		// when the peer is heard), and a failed fence is tried again after
		// its retry delay.
		return d.with(ActionFencePeer, fmt.Sprintf("%s: fencing %s before taking over", why, s.peer))
	case p.NeedFence && !v.Alive && o.Fence == FenceFailed:
		return d.with(ActionNone, fmt.Sprintf("%s, but fencing %s failed: not taking over", why, s.peer))
	}
	d.Role = RolePrimary
	d.NextEpoch = max(o.Epoch, v.Epoch) + 1
	d.Force = s.forced()
	return d.with(ActionTakeOver, fmt.Sprintf("taking over at epoch %d: %s", d.NextEpoch, why))
}
