// Package acttest provides recording fakes of the act stage's resources —
// database, VIP, PBX, takeover commands, hooks, fence — that write every
// call to one shared, ordered log, keep the state a test asserts on (is the
// database writable, is the VIP held), and run an optional behaviour per
// operation that can fail, block or take time.
package acttest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/clock"
	"github.com/pbxha/pbxha/probe"
)

// The operations the fakes record, as "resource.operation".
const (
	DBPromote     = "db.promote"
	DBDemote      = "db.demote"
	DBStop        = "db.stop"
	DBRejoin      = "db.rejoin"
	VIPUp         = "vip.up"
	VIPDown       = "vip.down"
	VIPAnnounce   = "vip.announce"
	PBXEnsure     = "pbx.ensure_running"
	PBXRestart    = "pbx.restart"
	CommandsSend  = "commands.send"
	HooksTakeover = "hooks.takeover"
	HooksRelease  = "hooks.release"
	FenceRun      = "fence.run"
	WitnessAsk    = "witness.ask"
)

// Call is one recorded operation.
type Call struct {
	Op    string
	Start time.Time // the clock when it began
	End   time.Time // and when it returned
	Err   error
	Vars  hooks.Vars // hooks and fence: the environment they got
	Force bool       // db.promote
	LSN   probe.LSN  // db.promote: the peer's position
}

// World is one node's resources, faked. Its methods and the fakes' are
// safe for concurrent use.
type World struct {
	clock clock.Clock

	mu       sync.Mutex
	calls    []Call
	behave   map[string]func(ctx context.Context) error
	dbRole   dbrole.Role // primary, standby or stopped
	refusing bool        // the database refuses new sessions (Role)
	vipHeld  bool
	pbxRuns  bool
	fault    bool
	restarts bool

	DB       *Database
	VIP      *VIP
	PBX      *PBX
	Commands *Commands
	Hooks    *Hooks
	Fence    *Fence
	Witness  *Witness

	answer string // what the witness hears: a MAC, or "" for nobody
}

// New returns a world whose database is a running standby, VIP absent and
// PBX running; c stamps the calls (clock.Real when nil).
func New(c clock.Clock) *World {
	w := &World{clock: clock.Or(c), behave: map[string]func(context.Context) error{},
		dbRole: dbrole.RoleStandby, pbxRuns: true}
	w.DB, w.VIP, w.PBX = &Database{w}, &VIP{w}, &PBX{w}
	w.Commands, w.Hooks, w.Fence, w.Witness = &Commands{w}, &Hooks{w}, &Fence{w}, &Witness{w}
	return w
}

// Resources returns every fake as act.Resources.
func (w *World) Resources() act.Resources {
	return act.Resources{DB: w.DB, VIP: w.VIP, PBX: w.PBX, Commands: w.Commands, Hooks: w.Hooks, Fence: w.Fence, Witness: w.Witness}
}

// Set makes op run f (nil: succeed at once). f's error is what op returns,
// and a failed op changes no state.
func (w *World) Set(op string, f func(ctx context.Context) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.behave[op] = f
}

// Fail makes op fail with err (nil: succeed again).
func (w *World) Fail(op string, err error) {
	if err == nil {
		w.Set(op, nil)
		return
	}
	w.Set(op, func(context.Context) error { return err })
}

// Takes makes op take d on the world's clock.
func (w *World) Takes(op string, d time.Duration) {
	w.Set(op, func(ctx context.Context) error {
		t := w.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// do runs op's behaviour, records the call and, when it worked, applies
// change to the state under the lock.
func (w *World) do(ctx context.Context, c Call, change func()) error {
	c.Start = w.clock.Now()
	w.mu.Lock()
	f := w.behave[c.Op]
	w.mu.Unlock()
	var err error
	if f != nil {
		err = f(ctx)
	}
	c.End, c.Err = w.clock.Now(), err
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, c)
	if err == nil && change != nil {
		change()
		if c.Op == DBPromote || c.Op == DBDemote || c.Op == DBStop || c.Op == DBRejoin {
			w.refusing = false
		}
	}
	return err
}

// Calls returns every call so far, in order.
func (w *World) Calls() []Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Call(nil), w.calls...)
}

// Ops returns the operations called so far, in order; failed ones end in
// "!".
func (w *World) Ops() []string {
	var out []string
	for _, c := range w.Calls() {
		op := c.Op
		if c.Err != nil {
			op += "!"
		}
		out = append(out, op)
	}
	return out
}

// Count returns how many calls of op were made (failed ones included).
func (w *World) Count(op string) int {
	n := 0
	for _, c := range w.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Writable reports whether the database takes writes (it is primary).
func (w *World) Writable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dbRole == dbrole.RolePrimary
}

// DBRole returns the database's role: primary, standby or stopped.
func (w *World) DBRole() dbrole.Role {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dbRole
}

// SetDBRefusing makes the database refuse new sessions (as one shutting
// down does) until its role next changes, or until set off.
func (w *World) SetDBRefusing(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refusing = on
}

// HoldsVIP reports whether the VIP is up here.
func (w *World) HoldsVIP() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.vipHeld
}

// SetPBX sets what PBX.State reports and whether the PBX runs.
func (w *World) SetPBX(runs, fault, restartPending bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pbxRuns, w.fault, w.restarts = runs, fault, restartPending
}

// SetDBRole sets the database's role (primary, standby or stopped).
func (w *World) SetDBRole(r dbrole.Role) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dbRole = r
}

// Database fakes act.Database over the world's database role.
type Database struct{ w *World }

var _ act.Database = (*Database)(nil)

func (d *Database) result(action string, before dbrole.Role) dbrole.Result {
	return dbrole.Result{Action: action, Before: before, After: d.w.DBRole(), Changed: before != d.w.DBRole()}
}

// Promote makes the database primary.
func (d *Database) Promote(ctx context.Context, peerWAL probe.LSN, force bool) (dbrole.Result, error) {
	before := d.w.DBRole()
	err := d.w.do(ctx, Call{Op: DBPromote, Force: force, LSN: peerWAL}, func() { d.w.dbRole = dbrole.RolePrimary })
	return d.result("promote", before), err
}

// Demote makes a primary database a standby.
func (d *Database) Demote(ctx context.Context, _ dbrole.DemoteArgs) (dbrole.Result, error) {
	before := d.w.DBRole()
	err := d.w.do(ctx, Call{Op: DBDemote}, func() {
		if d.w.dbRole == dbrole.RolePrimary {
			d.w.dbRole = dbrole.RoleStandby
		}
	})
	return d.result("demote", before), err
}

// Stop stops the database.
func (d *Database) Stop(ctx context.Context, _ dbrole.DemoteArgs) (dbrole.Result, error) {
	before := d.w.DBRole()
	err := d.w.do(ctx, Call{Op: DBStop}, func() {
		// As dbrole: only a writable database is stopped.
		if d.w.dbRole == dbrole.RolePrimary || d.w.dbRole == dbrole.RoleUnknown {
			d.w.dbRole = dbrole.RoleStopped
		}
	})
	return d.result("stop", before), err
}

// Rejoin makes a stopped database a standby.
func (d *Database) Rejoin(ctx context.Context, _ dbrole.DemoteArgs) (dbrole.Result, error) {
	before := d.w.DBRole()
	err := d.w.do(ctx, Call{Op: DBRejoin}, func() { d.w.dbRole = dbrole.RoleStandby })
	return d.result("rejoin", before), err
}

// Role reads the database's role; while SetDBRefusing is on, RoleUnknown
// with an error matching dbrole.ErrRefusing. It is not recorded.
func (d *Database) Role(ctx context.Context) (dbrole.Role, error) {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if d.w.refusing {
		return dbrole.RoleUnknown, fmt.Errorf("acttest: %w", dbrole.ErrRefusing)
	}
	return d.w.dbRole, nil
}

// Target names the fake.
func (d *Database) Target() string { return "fake database" }

// VIP fakes act.VIP.
type VIP struct{ w *World }

var _ act.VIP = (*VIP)(nil)

// Up adds the VIP.
func (v *VIP) Up(ctx context.Context) error {
	return v.w.do(ctx, Call{Op: VIPUp}, func() { v.w.vipHeld = true })
}

// Down removes the VIP.
func (v *VIP) Down(ctx context.Context) error {
	return v.w.do(ctx, Call{Op: VIPDown}, func() { v.w.vipHeld = false })
}

// Announce records the announcement.
func (v *VIP) Announce(ctx context.Context) error { return v.w.do(ctx, Call{Op: VIPAnnounce}, nil) }

// PBX fakes act.PBX.
type PBX struct{ w *World }

var _ act.PBX = (*PBX)(nil)

// EnsureRunning starts the PBX.
func (p *PBX) EnsureRunning(ctx context.Context) error {
	return p.w.do(ctx, Call{Op: PBXEnsure}, func() { p.w.pbxRuns = true })
}

// Restart restarts the PBX.
func (p *PBX) Restart(ctx context.Context) error {
	return p.w.do(ctx, Call{Op: PBXRestart}, func() { p.w.pbxRuns = true })
}

// State reports what SetPBX set.
func (p *PBX) State() act.PBXState {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	return act.PBXState{Fault: p.w.fault, RestartPending: p.w.restarts}
}

// Commands fakes act.TakeoverCommands; a failure is recorded only (Send
// never fails a takeover).
type Commands struct{ w *World }

var _ act.TakeoverCommands = (*Commands)(nil)

// Send records the call.
func (c *Commands) Send(ctx context.Context, _ uint64) { _ = c.w.do(ctx, Call{Op: CommandsSend}, nil) }

// Hooks fakes act.Hooks.
type Hooks struct{ w *World }

var _ act.Hooks = (*Hooks)(nil)

// Takeover records the call with its variables.
func (h *Hooks) Takeover(ctx context.Context, vars hooks.Vars) error {
	return h.w.do(ctx, Call{Op: HooksTakeover, Vars: vars}, nil)
}

// Release records the call with its variables.
func (h *Hooks) Release(ctx context.Context, vars hooks.Vars) error {
	return h.w.do(ctx, Call{Op: HooksRelease, Vars: vars}, nil)
}

// Fence fakes act.Fencer.
type Fence struct{ w *World }

var _ act.Fencer = (*Fence)(nil)

// Fence records the call with its variables.
func (f *Fence) Fence(ctx context.Context, vars hooks.Vars) error {
	return f.w.do(ctx, Call{Op: FenceRun, Vars: vars}, nil)
}

// Witness fakes act.Witness: another node answers with the MAC set by
// SetAnswer, or nobody.
type Witness struct{ w *World }

var _ act.Witness = (*Witness)(nil)

// SetAnswer sets who the witness hears answer on the VIP ("" nobody).
func (w *World) SetAnswer(mac string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.answer = mac
}

// Witness records the call and reports the answer set.
func (x *Witness) Witness(ctx context.Context, _ time.Duration) (bool, string, error) {
	err := x.w.do(ctx, Call{Op: WitnessAsk}, nil)
	x.w.mu.Lock()
	defer x.w.mu.Unlock()
	return x.w.answer != "", x.w.answer, err
}
