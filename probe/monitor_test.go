package probe

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scripted is a probe whose results come from a list; after the list it repeats the last.
type scripted struct {
	mu      sync.Mutex
	results []Status
	calls   int
}

func (p *scripted) Check(ctx context.Context) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := min(p.calls, len(p.results)-1)
	p.calls++
	return Result{Status: p.results[i], Start: time.Now()}
}

func (p *scripted) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func TestMonitorSchedulesAndSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &scripted{results: seq("oooffff")}
		var mu sync.Mutex
		var changes []Change
		m := NewMonitor([]Check{{
			Name: "sip", Kind: "sip", Interval: time.Second, Timeout: 500 * time.Millisecond,
			Rise: 2, Fall: 3, Critical: true, Probe: p,
		}}, Options{History: 4, OnChange: func(c Change) {
			mu.Lock()
			changes = append(changes, c)
			mu.Unlock()
		}}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()

		// The first check starts at the interval's next grid point
		// (synctest's clock starts on one, so a whole interval on); then
		// one per second, each on the grid.
		time.Sleep(7*time.Second + 100*time.Millisecond)
		synctest.Wait()
		if got, want := p.count(), 7; got != want {
			t.Fatalf("got %d checks after 7.1s, want %d", got, want)
		}
		st := m.Snapshot()[0]
		for _, r := range st.History {
			if !r.Start.Equal(r.Start.Truncate(time.Second)) {
				t.Errorf("a check started at %s, want on the grid of its interval (whole seconds)", r.Start.Format(time.StampMilli))
			}
		}
		if st.State != Failed {
			t.Errorf("got state %s, want failed", st.State)
		}
		if st.Failures != 4 || st.Checks != 7 || len(st.History) != 4 {
			t.Errorf("got failures %d checks %d history %d, want 4, 7, 4", st.Failures, st.Checks, len(st.History))
		}
		if m.Health() != HealthFailed {
			t.Errorf("got health %s, want failed", m.Health())
		}
		mu.Lock()
		if len(changes) != 2 || changes[0].To != OK || changes[1].From != OK || changes[1].To != Failed {
			t.Errorf("got changes %+v, want unknown→ok, ok→failed", changes)
		}
		mu.Unlock()
		cancel()
		<-done
	})
}

// blocking waits for its context, recording how many checks run at once.
type blocking struct {
	inFlight, maxInFlight, calls atomic.Int32
}

func (p *blocking) Check(ctx context.Context) Result {
	start := time.Now()
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	p.calls.Add(1)
	for {
		m := p.maxInFlight.Load()
		if n <= m || p.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	<-ctx.Done()
	return Result{Status: Failed, Class: ClassTimeout, Err: ctx.Err(), Start: start, Latency: time.Since(start)}
}

func TestMonitorTimeoutAndOneInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &blocking{}
		c := Check{Name: "hang", Kind: "tcp", Interval: time.Second, Timeout: 300 * time.Millisecond, Rise: 1, Fall: 1, Probe: p}
		m := NewMonitor([]Check{c}, Options{}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		if got := p.maxInFlight.Load(); got != 1 {
			t.Errorf("got %d checks in flight at once, want 1", got)
		}
		st := m.Snapshot()[0]
		if st.Last == nil || st.Last.Latency != c.Timeout {
			t.Fatalf("got last result %+v, want latency %s (the timeout)", st.Last, c.Timeout)
		}
		if !errors.Is(st.Last.Err, context.DeadlineExceeded) {
			t.Errorf("got err %v, want deadline exceeded", st.Last.Err)
		}
		if got := p.calls.Load(); got < 9 || got > 11 {
			t.Errorf("got %d checks in 10s at 1s interval, want about 10", got)
		}
	})
}

func TestMonitorShutdownDoesNotRecordOwnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &blocking{}
		m := NewMonitor([]Check{{Name: "x", Interval: time.Second, Timeout: 900 * time.Millisecond, Rise: 1, Fall: 1, Probe: p}}, Options{}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		for p.calls.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		if st := m.Snapshot()[0]; st.Checks != 0 {
			t.Errorf("got %d results recorded, want 0: a check cut by shutdown is not evidence", st.Checks)
		}
	})
}

func TestMonitorReloadCarriesState(t *testing.T) {
	ctx := t.Context()
	p := &scripted{results: seq("o")}
	keep := Check{Name: "sip", Kind: "sip", Target: "sip:a", Interval: time.Second, Timeout: time.Millisecond, Rise: 1, Fall: 1, Probe: p}
	gone := Check{Name: "tcp", Kind: "tcp", Target: "a:1", Interval: time.Second, Timeout: time.Millisecond, Rise: 1, Fall: 1, Probe: p}
	old := NewMonitor([]Check{keep, gone}, Options{}, nil)
	old.RunOnce(ctx, keep)
	old.RunOnce(ctx, gone)

	moved := keep
	moved.Name, moved.Target = "tcp", "b:2" // same name as before, other target: starts fresh
	keep.Critical = true
	m := NewMonitor([]Check{keep, moved}, Options{}, old)
	st := m.Snapshot()
	if st[0].State != OK || st[0].Checks != 1 || !st[0].Critical {
		t.Errorf("kept check: got %+v, want state ok, 1 check, critical", st[0])
	}
	if st[1].State != Unknown || st[1].Checks != 0 {
		t.Errorf("changed check: got state %s with %d checks, want unknown with 0", st[1].State, st[1].Checks)
	}
	// The old monitor's history is not shared with the new one.
	m.RunOnce(ctx, keep)
	if got := old.Snapshot()[0].Checks; got != 1 {
		t.Errorf("old monitor got %d checks after the new one ran, want 1", got)
	}
}

// TestMonitorTimeoutAsLongAsInterval: a check whose timeout is its whole
// interval and that times out every time is followed at once by the next
// (its grid point came as it timed out), which starts on the grid: a
// hung target is checked back to back, one check per interval.
func TestMonitorTimeoutAsLongAsInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &blocking{}
		iv := 200 * time.Millisecond
		var mu sync.Mutex
		var starts []time.Time
		m := NewMonitor([]Check{{Name: "sip", Kind: "sip", Interval: iv, Timeout: iv, Rise: 1, Fall: 2, Probe: p}},
			Options{OnResult: func(_ Check, r Result, _ CheckState) {
				mu.Lock()
				starts = append(starts, r.Start)
				mu.Unlock()
			}}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		time.Sleep(2*time.Second + iv/2)
		cancel()
		<-done
		if got := p.maxInFlight.Load(); got != 1 {
			t.Errorf("got %d checks in flight at once, want 1", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(starts) < 9 || len(starts) > 11 {
			t.Fatalf("got %d checks in 2.1s of 200ms checks that all time out, want 9 to 11", len(starts))
		}
		for i, s := range starts {
			if !s.Equal(s.Truncate(iv)) {
				t.Errorf("check %d started at %s, want on the 200ms grid", i, s.Format(time.StampMilli))
			}
			if i > 0 && s.Sub(starts[i-1]) != iv {
				t.Errorf("check %d started %s after the one before, want %s", i, s.Sub(starts[i-1]), iv)
			}
		}
	})
}
