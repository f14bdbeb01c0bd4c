package filesync

import (
	"cmp"

	"github.com/pbxha/pbxha/failover"
)

// Roles is what the syncer needs to know of the pair, read once per
// decision: this node's role, the peer as its heartbeats tell it, and
// maintenance mode on either node.
type Roles struct {
	Self        failover.Role
	PeerName    string
	PeerAlive   bool
	PeerRole    failover.Role
	Maintenance bool // on this node or on the live peer
}

// Direction is what a node does with its directories.
type Direction int

// Directions.
const (
	Idle  Direction = iota // neither serves the standby nor pulls
	Serve                  // primary: the standby pulls from this node
	Pull                   // standby: pulls from the primary
)

// String returns "idle", "serve" or "pull".
func (d Direction) String() string {
	switch d {
	case Serve:
		return "serve"
	case Pull:
		return "pull"
	default:
		return "idle"
	}
}

// Plan is the direction for r and the reason for it, one line. It is a
// pure function: the standby (or a fault node, out of service but kept in
// step) pulls while the peer is a live primary; a primary serves; nothing
// moves while either node is in maintenance or the peer is not heard.
func Plan(r Roles) (Direction, string) {
	peer := cmp.Or(r.PeerName, "the peer")
	switch {
	case r.Maintenance:
		return Idle, "maintenance mode: no sync"
	case r.Self == failover.RolePrimary:
		return Serve, "primary: the standby pulls from this node"
	case r.Self != failover.RoleStandby && r.Self != failover.RoleFault:
		return Idle, "role " + r.Self.String() + ": no sync"
	case !r.PeerAlive:
		return Idle, "isolated: " + peer + " not heard, no sync"
	case r.PeerRole != failover.RolePrimary:
		return Idle, peer + " is " + r.PeerRole.String() + ", not primary: no sync"
	}
	return Pull, "pulling from " + peer
}
