package failover

import (
	"time"

	"github.com/pbxha/pbxha/probe"
)

// LocalState is the local part of an Observation, read once per decision.
type LocalState struct {
	Health         probe.Health // aggregated health of the local probes
	Probes         ProbeSummary // probe verdicts for the heartbeat
	PBXFault       bool         // the PBX restart limit was reached
	RestartPending bool         // a PBX restart is under way or waiting out its back-off
	DB             DBRole       // this node's database role (DBNone without a managed database)
	WAL            uint64       // primary: current WAL LSN; standby: replayed LSN
	TieBreakerOK   bool         // the last round of tie-breaker checks got an answer
	Maintenance    bool         // maintenance mode is on (e.g. set over the control API)
	// NoStreamingStandby: DB is DBPrimary and no standby streams WAL from
	// it, as far as the last reading shows (an old or missing reading
	// counts as none). False without a managed database.
	NoStreamingStandby bool
	// DBOnlyFailed: Health is failed only because of database probes
	// (kind pg): restarting the PBX would not help.
	DBOnlyFailed bool
	// TieBreakerAt is when a tie-breaker target last answered (zero:
	// never); TieBreakerOK is whether that was recent enough.
	TieBreakerAt time.Time
	VIP          VIPState // whether this node's interface carries the VIP
	LinkDown     string   // a tracked interface without carrier, "" when none
	ActiveCalls  int      // the PBX's calls, as the call-counting probes last read them
	CallsCounted bool     // a probe counts calls
}

// RoleChange is one entry of a node's role history.
type RoleChange struct {
	At     time.Time `json:"at"`
	From   Role      `json:"from"`
	To     Role      `json:"to"`
	Epoch  uint64    `json:"epoch"` // the epoch after the change
	Reason string    `json:"reason"`
}

// SwitchoverState is the switchover request made on this node.
type SwitchoverState struct {
	Request SwitchoverRequest // the request (zero ID: none made yet)
	Since   time.Time         // when it was made
	Outcome string            // "pending", "done" or "timed out"
	// Steps is the request's timeline as seen from this node: its own
	// release or takeover steps, and the peer's role changes as its
	// heartbeats told them (at their arrival).
	Steps []Step
}

// NodeStatus is a snapshot of a Node for `pbxha status` and metrics.
type NodeStatus struct {
	Node        string
	Role        Role
	Epoch       uint64
	Health      probe.Health
	Eligible    bool
	Maintenance bool
	StartedAt   time.Time
	DecidedAt   time.Time // time of the last decision
	Action      Action    // action of the last decision
	Reason      string    // reason of the last decision
	LastError   string    // the last failed action or epoch write, "" if none since
	Busy        Action    // the move under way (ActionNone: none)
	BusySince   time.Time // when it started
	AuxBusy     Action    // the other action under way (restart_pbx, fence_peer, re_announce, witness)
	AuxSince    time.Time // when it started
	// ConfirmedAt is the send time of the newest heartbeat of this node
	// the peer says it heard (zero: never).
	ConfirmedAt      time.Time
	Witness          WitnessState // what the VIP witness said in the peer's current silence
	Unprotected      string       // why the pair could not survive the next fault now ("" when it could; see Protection)
	UnprotectedCause string       // Unprotected's cause, one of UnprotectedCauses
	// StepDownBudget is the step-down time this node announces: the
	// configured budget, raised to the slowest step-down or release
	// measured (with a margin).
	StepDownBudget time.Duration
	Peer           PeerView
	Paths          []PathState // per-path liveness, by path index
	History        []RoleChange
	Switchover     SwitchoverState
	Accepted       uint64            // heartbeats accepted
	Drops          map[string]uint64 // heartbeats dropped, by DropReason
	SendErrors     uint64            // heartbeat sends that failed on some path

	// StateDirError is why the state directory cannot take the epoch (a
	// failed epoch write or background write test), "" while it can;
	// StateDirSince is when that began.
	StateDirError string
	StateDirSince time.Time
}
