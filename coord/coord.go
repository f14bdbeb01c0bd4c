// Package coord decides, for one node of a cluster coordinated through
// etcd, the next step: who leads, when a leader steps down before its
// lease can expire, and when it hands over. Decide is a pure function of
// one snapshot of the cluster as etcd shows it and of the node's own
// state; it reads no clock and performs no I/O.
package coord

import (
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// Member is another node of the cluster as its member key in etcd says,
// published by that node and kept alive by its lease: a member whose lease
// expired is not in the snapshot.
type Member struct {
	Node        string
	Role        failover.Role
	Health      probe.Health
	Eligible    bool // it could lead now, as it judges itself
	Priority    int  // higher leads first; 0 never leads
	DB          failover.DBRole
	WAL         uint64 // its database position (primary: current; standby: received or replayed)
	Maintenance bool
	// EligibleSince is when the observing node first saw it eligible
	// without a break (zero: not eligible now); failback counts from it.
	EligibleSince time.Time
}

// Request is a planned switchover, as the switchover key in etcd holds it.
// The zero Request is none.
type Request struct {
	ID    string // unique per request
	To    string // the node to lead; "" means the best other node
	Force bool   // promote past max_lag_bytes
	// Away is the leader when the request was made: with To "", the
	// node the service moves away from, which neither takes the vacant
	// key back nor is waited for while the request is in force; a leader
	// other than Away has nothing to do for it.
	Away string
}

// Active reports whether r is a request.
func (r Request) Active() bool { return r.ID != "" }

// Observation is one snapshot of everything Decide looks at.
type Observation struct {
	Now   time.Time
	Node  string        // this node's name
	Role  failover.Role // this node's role now
	Epoch uint64        // the cluster's epoch (etcd's epoch key)
	Local failover.LocalState
	// Priority is this node's etcd.priority.
	Priority int
	// StartedAt is when this node's runtime started: for InitWait.
	StartedAt time.Time
	// Synced: the runtime has read the cluster from etcd at least once.
	// Until then the node stays in role init and claims nothing.
	Synced bool
	// SafeUntil is how long this node's lease is certainly alive: the
	// send time of the newest keepalive etcd answered (or of the grant),
	// plus the lease's TTL. Zero: no lease.
	SafeUntil time.Time
	// Leader names the holder of the leader key ("" none); LeaderMine is
	// true when this node holds it with its current lease.
	Leader     string
	LeaderMine bool
	// NoLeaderSince is when the leader key was first seen absent in this
	// vacancy (zero while a leader holds it).
	NoLeaderSince time.Time
	// LeaderWAL is the last database position a leader announced (the
	// optime key, kept past the leader's death); 0: none announced.
	LeaderWAL uint64
	// Members are the other live nodes.
	Members []Member
	// Switchover is the request in force, if any.
	Switchover Request
	// Busy is the move under way (take_over, release, step_down,
	// restore_vip, drop_vip), AuxBusy the other action (restart_pbx);
	// ActionNone when none.
	Busy, AuxBusy failover.Action
	// RetryAt holds, per action, the earliest time it may run again.
	RetryAt map[failover.Action]time.Time
	// FailedSince is when the local health last turned failed
	// (restart_first's grace).
	FailedSince time.Time
}

// Decision is what Decide chose: one action, the role to hold once it is
// carried out, whether this node could lead now (published in its member
// key), and why.
type Decision struct {
	Action   failover.Action
	Role     failover.Role
	Reason   string
	Eligible bool
	// Target is the node a failback hands over to (ActionFailback: the
	// runtime writes a switchover request naming it).
	Target string
	// Force: the takeover may promote past max_lag_bytes.
	Force bool
}

// Policy holds the decision settings; every node should use the same.
type Policy struct {
	// LeaseTTL is the lease's time to live: a leader that has not renewed
	// its lease for this long has lost the leader key.
	LeaseTTL time.Duration
	// StepDown is the step-down budget: how long stopping the database's
	// writes and removing the VIP take at most.
	StepDown time.Duration
	// Tick is how late a decision may come after the instant it is due
	// (a timer firing late on a loaded host, a decision under way): the
	// runtime decides on events and at NextDeadline, not on a cadence,
	// and the step-down margin counts two ticks. It is also the pause
	// before a failed etcd request is tried again.
	Tick time.Duration
	// MaxLagBytes: a node further behind the leader's last announced
	// position does not lead, unless AllowLag or a forced switchover.
	MaxLagBytes uint64
	AllowLag    bool
	// LagTransactions: positions and MaxLagBytes count transactions
	// (MariaDB/MySQL GTIDs), not WAL bytes.
	LagTransactions bool
	// Mode, RestartGrace: a leader whose service failed hands over at
	// once (failover_first) or gives a local restart RestartGrace first.
	Mode         failover.Mode
	RestartGrace time.Duration
	// Failback auto: the leader hands over to a live member of higher
	// priority once it has been eligible and healthy for FailbackDelay.
	Failback      failover.Failback
	FailbackDelay time.Duration
	// InitWait: a node that just started takes no vacant leader key for
	// this long (0: LeaseTTL), so that nodes starting together see each
	// other's member keys first and the best of them leads.
	InitWait time.Duration
	// NoRestart: the PBX is not supervised; restart_pbx is never chosen.
	NoRestart bool
	// TieBreakers: tie-breaker targets are configured, and a node that
	// reaches none does not lead.
	TieBreakers bool
}

// DefaultTick is Policy.Tick when it is 0.
const DefaultTick = 50 * time.Millisecond

func (p Policy) tick() time.Duration {
	if p.Tick <= 0 {
		return DefaultTick
	}
	return p.Tick
}

func (p Policy) initWait() time.Duration {
	if p.InitWait <= 0 {
		return p.LeaseTTL
	}
	return p.InitWait
}

// Margin is how long before its lease's earliest expiry a leader must have
// finished stepping down, beyond the step-down budget: 1 % of the TTL for
// clocks that run at slightly different rates (this node's and etcd's),
// two ticks for a decision that comes late, and 10 ms of scheduling.
func (p Policy) Margin() time.Duration {
	return p.LeaseTTL/100 + 2*p.tick() + 10*time.Millisecond
}

// StepDownAt is when a leader whose lease is certainly alive until
// safeUntil must begin to step down: safeUntil less the budget and the
// margin. Stepping down from then ends before safeUntil, so before etcd
// can expire the lease and hand the leader key to another node.
func (p Policy) StepDownAt(safeUntil time.Time) time.Time {
	return safeUntil.Add(-p.StepDown - p.Margin())
}

// RenewEvery is how often a lease is renewed: a quarter of its TTL, so
// that a leader has several tries before StepDownAt.
func (p Policy) RenewEvery() time.Duration { return p.LeaseTTL / 4 }
