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

		// The first check starts within half an interval; then one per second.
		time.Sleep(500*time.Millisecond + 6*time.Second + 100*time.Millisecond)
		synctest.Wait()
		if got, want := p.count(), 7; got != want {
			t.Fatalf("got %d checks after 6.6s, want %d", got, want)
		}
		st := m.Snapshot()[0]
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
