package probe

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pbxha/pbxha/internal/clock"
)

// Check is one scheduled probe with its thresholds.
type Check struct {
	Name     string        // unique within a Monitor
	Kind     Kind          // which kind of probe (KindSIP...)
	Target   string        // what it probes, for people: a URI, host:port, a command
	Interval time.Duration // time between check starts
	Timeout  time.Duration // deadline of one check; shorter than Interval
	Rise     int           // consecutive passes to turn ok
	Fall     int           // consecutive failures to turn degraded or failed
	Critical bool          // a failed critical check fails the node
	Probe    Probe
}

// same reports whether two checks probe the same thing the same way, so that a
// reload can carry the settled state over.
func (c Check) same(o Check) bool {
	return c.Name == o.Name && c.Kind == o.Kind && c.Target == o.Target &&
		c.Rise == o.Rise && c.Fall == o.Fall
}

// CheckState is what a Monitor knows about one check at a moment.
type CheckState struct {
	Name     string
	Kind     Kind
	Target   string
	Critical bool
	State    Status    // settled state after hysteresis
	Since    time.Time // when State last changed (or the monitor started)
	Failures int       // consecutive results that were not OK
	Checks   int       // results observed so far
	Last     *Result   // newest result, nil before the first
	History  []Result  // newest last, at most Options.History
}

// Change is a settled-state transition of one check.
type Change struct {
	Check    string
	Kind     Kind
	Critical bool // the check's critical flag: whether failing fails the node
	From     Status
	To       Status
	Result   Result // the result that caused it
}

// Options tunes a Monitor.
type Options struct {
	History int // results kept per check; default 10

	// OnResult, when set, is called after every check with its result and the
	// check's new state. OnChange, when set, is called on every settled-state
	// change. Both run on the check's goroutine and must not block for long.
	OnResult func(Check, Result, CheckState)
	OnChange func(Change)
}

// Monitor runs checks on their schedules, one in flight per check, and keeps
// their settled states. Snapshot and Health may be called concurrently with Run.
type Monitor struct {
	checks []Check
	opts   Options

	mu     sync.Mutex
	states map[string]*checkState
}

type checkState struct {
	hyst Hysteresis
	view CheckState
}

// NewMonitor returns a Monitor for checks. When prev is non-nil (a config
// reload), checks that are the same in both keep their settled state and
// history.
func NewMonitor(checks []Check, opts Options, prev *Monitor) *Monitor {
	if opts.History <= 0 {
		opts.History = 10
	}
	m := &Monitor{checks: slices.Clone(checks), opts: opts, states: make(map[string]*checkState, len(checks))}
	now := time.Now()
	for _, c := range checks {
		if prev != nil {
			if old, ok := prev.carry(c); ok {
				m.states[c.Name] = old
				continue
			}
		}
		m.states[c.Name] = &checkState{
			hyst: Hysteresis{Rise: max(c.Rise, 1), Fall: max(c.Fall, 1)},
			view: CheckState{Name: c.Name, Kind: c.Kind, Target: c.Target, Critical: c.Critical, Since: now},
		}
	}
	return m
}

// carry returns a copy of the state of a check equal to c, if this monitor has one.
func (m *Monitor) carry(c Check) (*checkState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, old := range m.checks {
		if old.Name == c.Name && old.same(c) {
			st := *m.states[c.Name]
			st.view.Critical = c.Critical
			st.view.History = slices.Clone(st.view.History)
			if len(st.view.History) > m.opts.History {
				st.view.History = st.view.History[len(st.view.History)-m.opts.History:]
			}
			return &st, true
		}
	}
	return nil, false
}

// Checks returns the checks this monitor runs.
func (m *Monitor) Checks() []Check { return slices.Clone(m.checks) }

// Run runs every check until ctx is done, then waits for checks in flight to
// return (each returns by its timeout).
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range m.checks {
		wg.Go(func() { m.loop(ctx, c) })
	}
	wg.Wait()
}

// loop runs one check every Interval, start to start, each at a point of
// the wall clock's grid of its interval (clock.Grid): checks of the same
// or dividing intervals start together, with the node's heartbeats when
// theirs is the same, and wake the process once for all. A check never
// overlaps the next: its timeout is not longer than its interval, and when
// it overruns anyway the next start waits for it.
func (m *Monitor) loop(ctx context.Context, c Check) {
	timer := time.NewTimer(time.Until(clock.Grid(time.Now(), c.Interval)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		m.RunOnce(ctx, c)
		timer.Reset(max(0, time.Until(clock.Grid(start, c.Interval))))
	}
}

// RunOnce runs check c once with its timeout and records the result. It is
// what the scheduler calls each interval; tests and one-shot tools may call it
// directly.
func (m *Monitor) RunOnce(ctx context.Context, c Check) Result {
	cctx, cancel := context.WithTimeout(ctx, c.Timeout)
	r := c.Probe.Check(cctx)
	cancel()
	if ctx.Err() != nil && r.Status != OK {
		// Shutting down: the failure is ours, not the target's.
		return r
	}
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	m.record(c, r)
	return r
}

func (m *Monitor) record(c Check, r Result) {
	m.mu.Lock()
	st := m.states[c.Name]
	if st == nil {
		m.mu.Unlock()
		return
	}
	from := st.hyst.State()
	to, changed := st.hyst.Observe(r.Status)
	st.view.State = to
	st.view.Failures = st.hyst.Failures()
	st.view.Checks++
	rc := r
	st.view.Last = &rc
	st.view.History = append(st.view.History, r)
	if n := len(st.view.History); n > m.opts.History {
		st.view.History = slices.Delete(st.view.History, 0, n-m.opts.History)
	}
	if changed {
		st.view.Since = time.Now()
	}
	view := st.copyView()
	m.mu.Unlock()

	if m.opts.OnResult != nil {
		m.opts.OnResult(c, r, view)
	}
	if changed && m.opts.OnChange != nil {
		m.opts.OnChange(Change{Check: c.Name, Kind: c.Kind, Critical: c.Critical, From: from, To: to, Result: r})
	}
}

func (s *checkState) copyView() CheckState {
	v := s.view
	v.History = slices.Clone(v.History)
	if v.Last != nil {
		l := *v.Last
		v.Last = &l
	}
	return v
}

// Snapshot returns every check's state, in the order the checks were given.
func (m *Monitor) Snapshot() []CheckState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]CheckState, 0, len(m.checks))
	for _, c := range m.checks {
		out = append(out, m.states[c.Name].copyView())
	}
	return out
}

// Health aggregates the current states into node health.
func (m *Monitor) Health() Health { return Aggregate(m.Snapshot()) }
