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
// (gratuitous ARP / unsolicited NA) after two primaries met.
const (
	ActionNone Action = iota
	ActionTakeOver
	ActionRelease
	ActionRestartPBX
	ActionFencePeer
	ActionReAnnounce
)

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
