package failover

import "fmt"

// Role is what a node is in the pair. Only a primary holds resources (the VIP,
// the database primary role, the serving PBX).
type Role uint8

// Roles. Init is the start-up role, held until the peer is heard or init_dead
// passes; Fault means not eligible (the PBX restart limit was reached);
// Maintenance is a non-primary node whose automatic action is frozen (a
// primary in maintenance stays Primary and reports the maintenance flag).
const (
	RoleInit Role = iota
	RolePrimary
	RoleStandby
	RoleFault
	RoleMaintenance
	roleCount
)

// String returns the lowercase name used in logs, status output and JSON.
func (r Role) String() string {
	switch r {
	case RoleInit:
		return "init"
	case RolePrimary:
		return "primary"
	case RoleStandby:
		return "standby"
	case RoleFault:
		return "fault"
	case RoleMaintenance:
		return "maintenance"
	default:
		return fmt.Sprintf("role(%d)", uint8(r))
	}
}

// MarshalText encodes the role as its String form.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// DBRole is the database role a node reports in its heartbeat.
type DBRole uint8

// Database roles. DBNone means the node runs no managed database; its WAL
// position is then meaningless and the lag rule does not apply.
const (
	DBNone DBRole = iota
	DBPrimary
	DBStandby
	DBUnknown // a database is managed but its role could not be read
	dbRoleCount
)

// String returns "none", "primary", "standby" or "unknown".
func (d DBRole) String() string {
	switch d {
	case DBNone:
		return "none"
	case DBPrimary:
		return "primary"
	case DBStandby:
		return "standby"
	case DBUnknown:
		return "unknown"
	default:
		return fmt.Sprintf("dbrole(%d)", uint8(d))
	}
}

// MarshalText encodes the database role as its String form.
func (d DBRole) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Action is the one thing a Decision asks the actuators to do.
type Action uint8

// Actions. ReAnnounce keeps the resources and repeats the VIP announcement
// (gratuitous ARP / unsolicited NA) after two primaries met. StepDown is a
// release in the order that ends writes first (database, VIP, hooks), by a
// primary that may be cut off. RestoreVIP puts back a VIP that left a
// primary's interface; DropVIP removes one found on a node that is not
// primary. Witness asks whether the silent peer still answers on the VIP.
// Failback puts a switchover request to the preferred node in this node's
// heartbeats (the switchover then moves the service).
const (
	ActionNone Action = iota
	ActionTakeOver
	ActionRelease
	ActionRestartPBX
	ActionFencePeer
	ActionReAnnounce
	ActionStepDown
	ActionRestoreVIP
	ActionDropVIP
	ActionWitness
	ActionFailback
)

// Move reports whether a is a move of resources (take_over, release,
// step_down, restore_vip, drop_vip). Moves run one at a time; the other
// actions (restart_pbx, fence_peer, re_announce, witness) run on a second
// lane, one at a time, and a move may start while one of them runs.
func (a Action) Move() bool {
	switch a {
	case ActionTakeOver, ActionRelease, ActionStepDown, ActionRestoreVIP, ActionDropVIP:
		return true
	}
	return false
}

// String returns the snake_case name used in logs and events.
func (a Action) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionTakeOver:
		return "take_over"
	case ActionRelease:
		return "release"
	case ActionRestartPBX:
		return "restart_pbx"
	case ActionFencePeer:
		return "fence_peer"
	case ActionReAnnounce:
		return "re_announce"
	case ActionStepDown:
		return "step_down"
	case ActionRestoreVIP:
		return "restore_vip"
	case ActionDropVIP:
		return "drop_vip"
	case ActionWitness:
		return "witness"
	case ActionFailback:
		return "failback"
	default:
		return fmt.Sprintf("action(%d)", uint8(a))
	}
}

// MarshalText encodes the action as its String form.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// FenceState is the outcome of the fence command for the current takeover
// attempt, as the daemon last saw it.
type FenceState uint8

// Fence states. FenceUnknown means not run yet for this attempt (or reset by
// the daemon after a failure, to retry).
const (
	FenceUnknown FenceState = iota
	FenceOK
	FenceFailed
)

// String returns "unknown", "ok" or "failed".
func (f FenceState) String() string {
	switch f {
	case FenceOK:
		return "ok"
	case FenceFailed:
		return "failed"
	default:
		return "unknown"
	}
}

// MarshalText encodes the fence state as its String form.
func (f FenceState) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// WitnessState is what the VIP witness said of a silent peer in the current
// silence: does another node still answer on the VIP?
type WitnessState uint8

// Witness states. WitnessUnknown: not asked yet in this silence (or the
// answer is too old and is asked again).
const (
	WitnessUnknown WitnessState = iota
	WitnessAbsent               // nobody else answers on the VIP
	WitnessHeld                 // another node answers on the VIP: the peer still serves
)

// String returns "unknown", "absent" or "held".
func (w WitnessState) String() string {
	switch w {
	case WitnessAbsent:
		return "absent"
	case WitnessHeld:
		return "held"
	default:
		return "unknown"
	}
}

// VIPState is whether this node's interface carries the VIP, as the VIP
// tracker last saw it.
type VIPState uint8

// VIP states. VIPUntracked: no VIP, or a mode pbxha cannot watch (scripts).
const (
	VIPUntracked VIPState = iota
	VIPHeld
	VIPAbsent
)

// String returns "untracked", "held" or "absent".
func (v VIPState) String() string {
	switch v {
	case VIPHeld:
		return "held"
	case VIPAbsent:
		return "absent"
	default:
		return "untracked"
	}
}
