package act

import (
	"context"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
)

// Database is this node's managed database; *dbrole.Mover (PostgreSQL) and
// *mysqlrole.Mover (MariaDB/MySQL) implement it. Its methods block until
// the move is done or ctx ends, and are called one at a time.
type Database interface {
	// Promote makes the database the writable primary. peerWAL is the
	// peer's last announced position: a WAL LSN, or a GTID transaction
	// count for MariaDB/MySQL (probe.ParseGTIDSet). It refuses when the
	// database is further behind it than max_lag_bytes (max_lag_transactions),
	// unless force.
	Promote(ctx context.Context, peerWAL probe.LSN, force bool) (dbrole.Result, error)
	// Demote makes sure the database no longer takes writes: a standby of
	// the new primary, or stopped.
	Demote(ctx context.Context, args dbrole.DemoteArgs) (dbrole.Result, error)
	// Stop stops the database; Result.Changed reports that it was running.
	Stop(ctx context.Context, args dbrole.DemoteArgs) (dbrole.Result, error)
	// Rejoin makes a stopped database a standby of the new primary.
	Rejoin(ctx context.Context, args dbrole.DemoteArgs) (dbrole.Result, error)
	// Role reads the database's role now, apart from the moves (it may run
	// while one does): RoleStopped when it refuses connections, and
	// RoleUnknown with an error matching dbrole.ErrRefusing while it
	// refuses new sessions (shutting down, starting up).
	Role(ctx context.Context) (dbrole.Role, error)
	// Target names the database for logs and events.
	Target() string
}

// VIP is the service address; *vip.VIP implements it. Up returns an error
// matching vip.ErrAnnounce when the address was added but not announced,
// which a takeover tolerates (the announcement is repeated).
type VIP interface {
	Up(ctx context.Context) error
	Down(ctx context.Context) error
	Announce(ctx context.Context) error
}

// PBX is the supervised PBX; Supervised adapts a *supervisor.Supervisor.
type PBX interface {
	// EnsureRunning starts the PBX unless it runs (or runs unmanaged).
	EnsureRunning(ctx context.Context) error
	// Restart stops the PBX and starts it again.
	Restart(ctx context.Context) error
	// State reports a fault (the restart limit was reached) and a restart
	// under way or waiting out its back-off.
	State() PBXState
}

// PBXState is what the failover observation needs of the PBX.
type PBXState struct {
	Fault          bool // past the restart limit: not eligible
	RestartPending bool // a restart is under way or waiting out its back-off
}

// TakeoverCommands are sent to the PBX once a takeover made sure it runs
// (pbx.takeover_esl, e.g. "sofia recover"). Send is best effort: it
// reports its own failures and never fails the takeover.
type TakeoverCommands interface {
	Send(ctx context.Context, epoch uint64)
}

// Hooks are the operator's takeover and release hook commands, run with the
// event's variables in their environment.
type Hooks interface {
	// Takeover runs the takeover hooks in order and stops at the first
	// failure, which fails the takeover.
	Takeover(ctx context.Context, vars hooks.Vars) error
	// Release runs every release hook, whatever failed before; the error
	// joins the failures.
	Release(ctx context.Context, vars hooks.Vars) error
}

// Fencer makes sure a silent peer can no longer serve (fence_command).
type Fencer interface {
	Fence(ctx context.Context, vars hooks.Vars) error
}

// Witness asks whether another node answers on the VIP; *vip.VIP
// implements it (netlink mode, IPv4). It returns within about within.
type Witness interface {
	Witness(ctx context.Context, within time.Duration) (held bool, who string, err error)
}

// Resources are what a primary holds, each nil when this node has none.
type Resources struct {
	DB       Database         // nil: no managed database
	VIP      VIP              // nil: vip.mode none
	Witness  Witness          // nil: no VIP witness
	PBX      PBX              // nil: the PBX is not supervised
	Commands TakeoverCommands // nil: no pbx.takeover_esl
	Hooks    Hooks            // nil: no hooks
	Fence    Fencer           // nil: no fence command
}
