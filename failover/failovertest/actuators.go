package failovertest

import (
	"context"
	"sync"
	"time"

	"github.com/pbxha/pbxha/failover"
)

// Op names an actuator call.
type Op string

// The operations of failover.Actuators.
const (
	OpTakeOver   Op = "take_over"
	OpRelease    Op = "release"
	OpRestartPBX Op = "restart_pbx"
	OpFence      Op = "fence"
	OpReAnnounce Op = "re_announce"
	OpStepDown   Op = "step_down"
	OpRestoreVIP Op = "restore_vip"
	OpDropVIP    Op = "drop_vip"
	OpWitness    Op = "witness"
)

// Call is one recorded actuator call.
type Call struct {
	Op     Op
	At     time.Time // the clock when the call began
	Epoch  uint64    // OpTakeOver, OpRelease and OpFence: the move's epoch
	Reason string    // OpTakeOver, OpRelease and OpFence
	Force  bool      // OpTakeOver: promote past max_lag_bytes
	Err    error     // what the call returned
}

// Actuators is a recording failover.Actuators: it keeps every call, tracks
// whether the resources are held (taken over and not released since), and
// runs an optional behaviour per operation, which can fail, block, or change
// the test's world (a restart that repairs the PBX, a fence that powers the
// peer off). Its methods may be called concurrently.
type Actuators struct {
	now func() time.Time

	mu      sync.Mutex
	calls   []Call
	holds   bool
	epoch   uint64
	behave  map[Op]func(ctx context.Context) error
	witness failover.WitnessState
}

var _ failover.Actuators = (*Actuators)(nil)

// NewActuators returns recording actuators that succeed at once; now stamps
// the calls.
func NewActuators(now func() time.Time) *Actuators {
	return &Actuators{now: now, behave: map[Op]func(context.Context) error{}}
}

// Set makes op run f (nil: succeed at once). f's error is what op returns; a
// TakeOver that fails does not hold the resources.
func (a *Actuators) Set(op Op, f func(ctx context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.behave[op] = f
}

func (a *Actuators) run(ctx context.Context, c Call) error {
	a.mu.Lock()
	f := a.behave[c.Op]
	a.mu.Unlock()
	var err error
	if f != nil {
		err = f(ctx)
	}
	c.Err = err
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
	switch {
	case err != nil:
	case c.Op == OpTakeOver:
		a.holds, a.epoch = true, c.Epoch
	case c.Op == OpRelease, c.Op == OpStepDown:
		a.holds = false
	}
	return err
}

// TakeOver records the call; on success the resources are held at epoch.
// Its timeline has VIPUp and Ready at the return time.
func (a *Actuators) TakeOver(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	if err := a.run(ctx, Call{Op: OpTakeOver, At: a.now(), Epoch: m.Epoch, Reason: m.Reason, Force: m.Force}); err != nil {
		return failover.Timeline{}, err
	}
	t := a.now()
	return failover.Timeline{VIPUp: t, Ready: t}, nil
}

// Release records the call; on success the resources are no longer held.
// Its timeline has VIPDown and Released at the return time.
func (a *Actuators) Release(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	if err := a.run(ctx, Call{Op: OpRelease, At: a.now(), Epoch: m.Epoch, Reason: m.Reason}); err != nil {
		return failover.Timeline{}, err
	}
	t := a.now()
	return failover.Timeline{VIPDown: t, Released: t}, nil
}

// RestartPBX records the call.
func (a *Actuators) RestartPBX(ctx context.Context) error {
	return a.run(ctx, Call{Op: OpRestartPBX, At: a.now()})
}

// Fence records the call.
func (a *Actuators) Fence(ctx context.Context, m failover.Move) error {
	return a.run(ctx, Call{Op: OpFence, At: a.now(), Epoch: m.Epoch, Reason: m.Reason})
}

// ReAnnounce records the call.
func (a *Actuators) ReAnnounce(ctx context.Context) error {
	return a.run(ctx, Call{Op: OpReAnnounce, At: a.now()})
}

// StepDown records the call; on success the resources are no longer held.
// Its timeline has DBDemoted, VIPDown and Released at the return time.
func (a *Actuators) StepDown(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	if err := a.run(ctx, Call{Op: OpStepDown, At: a.now(), Epoch: m.Epoch, Reason: m.Reason}); err != nil {
		return failover.Timeline{}, err
	}
	t := a.now()
	return failover.Timeline{DBDemoted: t, VIPDown: t, Released: t}, nil
}

// RestoreVIP records the call.
func (a *Actuators) RestoreVIP(ctx context.Context) error {
	return a.run(ctx, Call{Op: OpRestoreVIP, At: a.now()})
}

// DropVIP records the call.
func (a *Actuators) DropVIP(ctx context.Context) error {
	return a.run(ctx, Call{Op: OpDropVIP, At: a.now()})
}

// Witness records the call and returns what SetWitness set (WitnessAbsent
// by default).
func (a *Actuators) Witness(ctx context.Context) (failover.WitnessState, string, error) {
	err := a.run(ctx, Call{Op: OpWitness, At: a.now()})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.witness == failover.WitnessUnknown {
		return failover.WitnessAbsent, "nobody answered", err
	}
	return a.witness, "a fake answer", err
}

// SetWitness sets what Witness reports.
func (a *Actuators) SetWitness(w failover.WitnessState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.witness = w
}

// Holds reports whether the resources are held, and at which epoch they were
// taken.
func (a *Actuators) Holds() (bool, uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.holds, a.epoch
}

// Calls returns every call so far, in order.
func (a *Actuators) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Count returns how many calls of op were made (failed ones included).
func (a *Actuators) Count(op Op) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := 0
	for _, x := range a.calls {
		if x.Op == op {
			c++
		}
	}
	return c
}

// Local is a settable source of failover.LocalState for NodeConfig.Local.
// Its methods may be called concurrently.
type Local struct {
	mu     sync.Mutex
	s      failover.LocalState
	notify func()
}

// Notify sets f to be called after every Update, as the daemon pokes its
// node when the local state changes (pass Node.Poke).
func (l *Local) Notify(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notify = f
}

// NewLocal returns a source that reports s until changed.
func NewLocal(s failover.LocalState) *Local { return &Local{s: s} }

// Get returns the current state; pass it as NodeConfig.Local. While
// TieBreakerOK is set and TieBreakerAt is not, a tie-breaker target answers
// all the time: TieBreakerAt is the time of the call.
func (l *Local) Get() failover.LocalState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.s
	if s.TieBreakerOK && s.TieBreakerAt.IsZero() {
		s.TieBreakerAt = time.Now()
	}
	return s
}

// Update changes the state with f.
func (l *Local) Update(f func(s *failover.LocalState)) {
	l.mu.Lock()
	f(&l.s)
	notify := l.notify
	l.mu.Unlock()
	if notify != nil {
		notify()
	}
}
