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
	TieBreakerOK   bool              // the last round of tie-breaker checks got an answer (see TieBreakerAt for when)
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
	// Busy is the move (take_over, release, step_down, restore_vip,
	// drop_vip) an earlier decision started that has not finished yet;
	// AuxBusy the other action under way (restart_pbx, fence_peer,
	// re_announce, witness). ActionNone: none. While a move runs nothing
	// else starts and the role stays; while another action runs, only a
	// move may start.
	Busy, AuxBusy Action
	// RetryAt holds, per action, the earliest time it may run again: after
	// it failed, and for restart_pbx after it ran (nil: no hold).
	RetryAt map[Action]time.Time
	// LastAnnounce is when the VIP was last re-announced (re_announce).
	LastAnnounce time.Time

	// ConfirmedAt is the send time of the newest heartbeat of this node
	// that the peer says it heard (or, for a new boot of the peer, when
	// this node first heard it, whichever is later); zero if never.
	ConfirmedAt time.Time
	// TieBreakerAt is when a tie-breaker target last answered; zero if
	// never.
	TieBreakerAt time.Time
	// HeartbeatLossAt is when this node's heartbeat sockets last lost
	// datagrams unread — the kernel's receive buffer or the reader's queue
	// was full, as under a flood faster than the node reads — so that a
	// real heartbeat may have been lost with them; zero if never.
	HeartbeatLossAt time.Time
	// Witness is what the VIP witness said of the silent peer in this
	// silence.
	Witness WitnessState
	// VIP is whether this node's interface carries the VIP (tracked).
	VIP VIPState
	// LinkDown names a tracked interface without carrier ("" when all
	// have it).
	LinkDown string
	// ActiveCalls are the PBX's calls as the call-counting probes last
	// read them; CallsCounted is false when no probe counts calls.
	ActiveCalls  int
	CallsCounted bool
	// FailbackDueSince is when a failback to the preferred node first
	// became due (it healthy for failback_delay); zero when it is not.
	FailbackDueSince time.Time
	// SteppedDownAt is when this node last stepped down because it was
	// cut off (isolated, or unheard by its live peer); zero once the peer
	// has heard it again. Until the peer hears it or a tie-breaker answers
	// after it, the node does not take over: what made it step down is
	// what it would act on.
	SteppedDownAt time.Time
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
	// FailbackDue: a failback to the preferred node is due (for
	// Observation.FailbackDueSince), whether or not it may start now.
	FailbackDue bool
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
// For a node of a pair, the rules, in order. A primary whose peer has not
// heard it, and that reached no tie-breaker target, for isolation_after —
// or whose live, eligible peer has stopped hearing it long enough to take
// over — steps down at once, maintenance or not: database first, then the
// VIP. Maintenance on either node freezes all other automatic action; two
// primaries that meet resolve by epoch (tie: the preferred node, then the
// lower node name, stays); a primary whose service failed (or whose tracked
// link lost carrier) releases only to a healthy eligible standby
// (failover_first at once, restart_first after restart_grace) and otherwise
// keeps the VIP and restarts; a primary puts back a VIP that left its
// interface; planned switchover and failback release to a healthy standby,
// and with a managed database only while a standby streams from it (unless
// the switchover is forced); a failback first waits for its quiet window
// and for the calls to drain, then becomes a switchover request. A standby
// drops a VIP it finds on itself, waits for a live primary, and takes over
// from a peer that is dead, released or not eligible — only when it
// serves, reaches a tie-breaker target, is within max_lag_bytes (unless
// forced), has been eligible for twice dead_after (so that two standbys
// never take over at once; not needed when a switchover the live peer knows
// of names this node), and, for a silent peer, once the peer has been
// silent long enough to have stepped down (Policy.TakeoverWait), nobody
// else answers on the VIP (with the witness) — or at once after a fence
// succeeded. At start-up nothing is claimed until the peer is heard or
// init_dead has passed.
//
// Then the holds: while a move runs (Busy) nothing starts and the role
// stays, while another action runs (AuxBusy) only a move may start; an
// action that failed a moment ago (RetryAt) waits, in the role held now;
// the VIP is re-announced at most every ReAnnounceEvery. A release never
// raises the epoch: the node learns the peer's epoch once it is standby
// (heartbeats that said "primary at the peer's epoch" during a slow release
// would tie, and a peer this node outranks would release too).
func Decide(o Observation, p Policy) Decision { return decide(o, p, true) }

// decide is Decide; without why its decisions carry no reason (NextDeadline,
// which compares what decisions do at many instants each time the node
// decides: formatting their reasons ran fmt at every one of them, and kept
// its code and the type tables it reads resident on a node at rest).
func decide(o Observation, p Policy, why bool) Decision {
	s := situation{o: o, p: p, peer: o.Peer.Node, why: why}
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
	stepDown, mustStepDown := "", false
	if o.Role == RolePrimary {
		stepDown, mustStepDown = s.stepDown()
	}
	switch {
	case mustStepDown:
		d.Role = RoleStandby
		d = d.with(ActionStepDown, stepDown)
	case o.Maintenance:
		if o.Role != RolePrimary {
			d.Role = RoleMaintenance
		}
		d = d.with(ActionNone, "maintenance mode: automatic action frozen")
	case o.Peer.Alive && o.Peer.Maintenance:
		if o.Role == RoleInit || o.Role == RoleMaintenance {
			d.Role = RoleStandby
		}
		d = d.with(ActionNone, s.sprintf("peer %s in maintenance mode: automatic action frozen", s.peer))
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
		return keep(s.sprintf("%s under way; %s", o.Busy, d.Reason))
	case o.AuxBusy != ActionNone && d.Action == ActionNone:
		d.Reason = s.sprintf("%s under way; %s", o.AuxBusy, d.Reason)
		return d
	case d.Action == ActionNone:
		return d
	case o.AuxBusy != ActionNone && !d.Action.Move():
		return keep(s.sprintf("%s under way; %s", o.AuxBusy, d.Reason))
	case d.Action == ActionFencePeer || d.Action == ActionWitness:
		return d // their retry rules are in secondary
	case d.Action == ActionReAnnounce && o.Now.Sub(o.LastAnnounce) < ReAnnounceEvery:
		d.Action = ActionNone
		return d
	}
	if wait := o.RetryAt[d.Action].Sub(o.Now); wait > 0 {
		// The same action failed (or, for restart_pbx, ran) a moment ago:
		// wait, in the role held now.
		return keep(s.sprintf("%s; %s again in %s", d.Reason, d.Action, wait.Round(time.Millisecond)))
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

// FailbackDueSince returns the Observation.FailbackDueSince for the next
// call, as EligibleSince does for eligibility.
func (d Decision) FailbackDueSince(prev, now time.Time) time.Time {
	switch {
	case !d.FailbackDue:
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
	why  bool   // reasons wanted (see decide)
}

// sprintf formats a reason, or returns "" when none is wanted.
func (s situation) sprintf(format string, a ...any) string {
	if !s.why {
		return ""
	}
	return fmt.Sprintf(format, a...)
}

// serves: health good enough to carry the service (healthy or degraded).
func serves(h probe.Health) bool { return h == probe.Healthy || h == probe.HealthDegraded }

// failed: the service here is down — a failed critical probe or a tracked
// link without carrier.
func (s situation) failed() bool { return s.o.Health == probe.HealthFailed || s.o.LinkDown != "" }

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
	return !o.Maintenance && !o.PBXFault && serves(o.Health) && o.LinkDown == "" && s.tieBreakerReachable() &&
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

// since returns how long before now t was, or a very long time when t is
// zero (never).
func (s situation) since(t time.Time) time.Duration {
	if t.IsZero() {
		return 1<<63 - 1
	}
	return s.o.Now.Sub(t)
}

// stampLayout is how reasons and events write a time: RFC 3339 to the
// millisecond, which is as precise as a heartbeat interval needs.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

// stamp writes t for a reason.
func stamp(t time.Time) string { return t.Format(stampLayout) }

// peerState describes the peer in a few words.
func (s situation) peerState() string {
	if !s.why {
		return ""
	}
	v := s.o.Peer
	switch {
	case !v.Heard:
		return s.sprintf("%s never heard", s.peer)
	case !v.Alive:
		return s.sprintf("%s silent since %s", s.peer, stamp(v.LastHeard))
	case v.Maintenance:
		return s.sprintf("%s in maintenance", s.peer)
	}
	el := "eligible"
	if !v.Eligible {
		el = "not eligible"
	}
	// The calm reason of every decision at rest: built without fmt, whose
	// code and the type tables it reads stay resident only for this.
	return s.peer + " is " + v.Role.String() + ", " + v.Health.String() + ", " + el
}
