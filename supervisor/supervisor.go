package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxha/pbxha/internal/problem"
)

// backend is how one mode finds, starts and stops the PBX. Only the Run
// goroutine calls it.
type backend interface {
	target() string
	// find returns the live PBX if one runs already (to adopt), else nil.
	find(ctx context.Context) (*process, error)
	// start starts the PBX and returns its process.
	start(ctx context.Context) (*process, error)
	// stop stops p (nil: whatever runs) and returns once it is gone.
	stop(ctx context.Context, p *process) error
	// exited is told that p exited on its own.
	exited(p *process)
}

// ErrNotRunning is returned by the operator commands while Run is not running.
var ErrNotRunning = errors.New("supervisor: not running")

// Supervisor keeps one PBX running. Its methods are safe for concurrent use;
// Run must be called once.
type Supervisor struct {
	cfg     Config
	pol     policy
	be      backend
	log     *slog.Logger
	onEvent func(Event)

	reqs chan request
	wake chan struct{}
	ran  chan struct{} // closed when Run starts

	mu sync.Mutex
	// Inputs from other goroutines.
	failed      bool
	failedSince time.Time
	maintenance bool
	// Owned by Run; read by Status under mu.
	proc       *process
	state      string
	held       bool // stopped by an operator: no automatic start
	downAt     time.Time
	restarts   []time.Time
	lastExit   string
	fault      bool
	faultWhy   string
	nextAt     time.Time
	everLooked bool
}

type request struct {
	op    string // start, stop, restart, reset
	reply chan error
}

// New validates cfg (reporting every problem, each naming its field) and
// returns a Supervisor. onEvent, if not nil, is called for every event from
// the Run goroutine; it must return quickly and must not call Start, Stop,
// Restart or Reset (Status and the setters are fine).
func New(cfg Config, logger *slog.Logger, onEvent func(Event)) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("supervisor: config: %w", err)
	}
	if err := problem.List(cfg.CheckHost()).Err(""); err != nil {
		return nil, fmt.Errorf("supervisor: config: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	s := &Supervisor{
		cfg: cfg, pol: policyOf(cfg), onEvent: onEvent,
		reqs: make(chan request), wake: make(chan struct{}, 1), ran: make(chan struct{}),
		state: StateUnknown,
	}
	switch cfg.Mode {
	case ModeExec:
		c, _ := credential(cfg.User, cfg.Group) // checked by CheckHost
		s.be = &execBackend{cfg: cfg, cred: c}
	case ModePIDFile:
		s.be = &pidfileBackend{cfg: cfg}
	case ModeSystemd:
		s.be = &systemdBackend{cfg: cfg}
	}
	target := string(cfg.Mode)
	if s.be != nil {
		target = s.be.target()
	}
	s.log = logger.With("component", "supervisor", "mode", string(cfg.Mode), "target", target)
	switch b := s.be.(type) {
	case *execBackend:
		b.log = s.log
	case *pidfileBackend:
		b.log = s.log
	case *systemdBackend:
		b.log = s.log
	}
	return s, nil
}

// ServiceFailed tells the supervisor whether a critical service probe of
// the PBX is failed now. The agent calls it on every change; the supervisor
// times HangGrace itself from the first failed report.
func (s *Supervisor) ServiceFailed(failed bool) {
	s.mu.Lock()
	if failed && !s.failed {
		s.failedSince = time.Now()
	}
	s.failed = failed
	s.mu.Unlock()
	s.poke()
}

// SetMaintenance turns maintenance mode on or off. While on, the PBX is
// neither restarted nor killed automatically; operator commands still work.
func (s *Supervisor) SetMaintenance(on bool) {
	s.mu.Lock()
	s.maintenance = on
	s.mu.Unlock()
	s.poke()
}

func (s *Supervisor) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start starts a stopped PBX now (regardless of back-off or fault) and
// lets automatic restarts resume. It fails if a PBX runs already.
func (s *Supervisor) Start(ctx context.Context) error { return s.do(ctx, "start") }

// Stop stops the PBX (SIGTERM, SIGKILL after StopTimeout) and keeps it
// stopped until Start or Restart.
func (s *Supervisor) Stop(ctx context.Context) error { return s.do(ctx, "stop") }

// Restart stops the PBX if it runs and starts it again. Operator restarts
// do not count toward MaxRestarts.
func (s *Supervisor) Restart(ctx context.Context) error { return s.do(ctx, "restart") }

// Reset forgets the automatic restarts of the window and clears a fault, so
// a PBX that is down is restarted at once. It does not block on the restart.
func (s *Supervisor) Reset() { _ = s.do(context.Background(), "reset") }

func (s *Supervisor) do(ctx context.Context, op string) error {
	select {
	case <-s.ran:
	default:
		return ErrNotRunning
	}
	r := request{op: op, reply: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("supervisor: %s: %w", op, ctx.Err())
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("supervisor: %s: %w", op, ctx.Err())
	}
}

// Status returns a snapshot.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Mode:             s.cfg.Mode,
		State:            s.state,
		RestartsInWindow: len(s.pol.inWindow(s.restarts, time.Now())),
		LastExit:         s.lastExit,
		Fault:            s.fault,
		FaultReason:      s.faultWhy,
		NextRestart:      s.nextAt,
		Maintenance:      s.maintenance,
	}
	if s.proc != nil {
		st.PID, st.StartedAt = s.proc.pid, s.proc.startedAt
	}
	return st
}

// emit logs ev and hands it to onEvent.
func (s *Supervisor) emit(ev Event) {
	attrs := []any{"event", ev.Kind, "pid", ev.PID, "reason", ev.Reason}
	if ev.Exit != "" {
		attrs = append(attrs, "exit", ev.Exit)
	}
	if ev.Kind == EventRestarted {
		attrs = append(attrs, "downtime_ms", ev.Downtime.Milliseconds())
	}
	lvl := slog.LevelWarn
	if ev.Kind == EventStarted || ev.Kind == EventRestarted || ev.Kind == EventReset {
		lvl = slog.LevelInfo
	}
	if ev.Kind == EventLimitReached {
		lvl = slog.LevelError
	}
	s.log.Log(context.Background(), lvl, "pbx "+ev.Kind, attrs...)
	s.onEvent(ev)
}

// set updates the Run-owned fields under the lock.
func (s *Supervisor) set(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}
