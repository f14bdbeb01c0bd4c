package alert

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
)

func probeEvent(probe, state string, sev event.Severity) event.Event {
	return event.Event{
		Kind: event.ProbeState, Severity: sev, Summary: "probe " + probe + " " + state,
		Details: map[string]any{"probe": probe, "to": state}, Resolved: state == "ok",
	}
}

// flip returns the n-th state of a probe going up and down, starting failed.
func flip(n int) (string, event.Severity) {
	if n%2 == 0 {
		return "failed", event.Critical
	}
	return "ok", event.Info
}

func TestFlapDamper(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	window := 5 * time.Minute
	tests := []struct {
		name        string
		changes     int           // changes of probe "sip", every `every`
		every       time.Duration // spacing of the changes
		wantPassed  int
		wantSummary bool
		wantFlaps   int
		wantLast    string
	}{
		{name: "below threshold", changes: 4, every: 10 * time.Second, wantPassed: 4},
		{name: "slow changes never damped", changes: 10, every: 2 * time.Minute, wantPassed: 10},
		{name: "flapping damped", changes: 10, every: 10 * time.Second, wantPassed: 4, wantSummary: true, wantFlaps: 6, wantLast: "ok"},
		{name: "flapping ends failed", changes: 9, every: 10 * time.Second, wantPassed: 4, wantSummary: true, wantFlaps: 5, wantLast: "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlapDamper(window, 4)
			now := t0
			passed := 0
			var first time.Time
			for i := range tt.changes {
				now = t0.Add(time.Duration(i) * tt.every)
				state, sev := flip(i)
				if f.Observe(probeEvent("sip", state, sev), now) {
					passed++
				} else if first.IsZero() {
					first = now
				}
				if got := f.Due(now); len(got) != 0 && tt.every < window {
					t.Fatalf("change %d: got %d summaries before the window ended, want 0", i, len(got))
				}
			}
			if passed != tt.wantPassed {
				t.Errorf("passed: got %d, want %d", passed, tt.wantPassed)
			}
			if !tt.wantSummary {
				if next := f.Next(); !next.IsZero() {
					t.Errorf("Next: got %s, want zero (no damping)", next)
				}
				return
			}
			end := first.Add(window)
			if next := f.Next(); !next.Equal(end) {
				t.Fatalf("Next: got %s, want %s", next, end)
			}
			if got := f.Due(end.Add(-time.Millisecond)); len(got) != 0 {
				t.Fatalf("just before the window ends: got %d summaries, want 0", len(got))
			}
			sums := f.Due(end)
			if len(sums) != 1 {
				t.Fatalf("at window end: got %d summaries, want 1", len(sums))
			}
			s := sums[0]
			if s.Kind != event.ProbeState || s.Details["probe"] != "sip" {
				t.Errorf("summary: got kind %q probe %v, want probe_state sip", s.Kind, s.Details["probe"])
			}
			if s.Details["flaps"] != tt.wantFlaps {
				t.Errorf("flaps: got %v, want %d", s.Details["flaps"], tt.wantFlaps)
			}
			if s.Details["first_state"] != "failed" || s.Details["last_state"] != tt.wantLast {
				t.Errorf("states: got first %v last %v, want failed, %s", s.Details["first_state"], s.Details["last_state"], tt.wantLast)
			}
			if s.Resolved != (tt.wantLast == "ok") {
				t.Errorf("resolved: got %v, want %v", s.Resolved, tt.wantLast == "ok")
			}
			if s.ID == "" || !s.Time.Equal(end) {
				t.Errorf("summary id %q time %s: want an id and time %s", s.ID, s.Time, end)
			}
			// A quiet window after the summary ends damping; the next change passes.
			if got := f.Due(end.Add(window)); len(got) != 0 {
				t.Errorf("quiet window: got %d summaries, want 0", len(got))
			}
			if !f.Next().IsZero() {
				t.Errorf("after a quiet window: got Next %s, want zero", f.Next())
			}
			if !f.Observe(probeEvent("sip", "failed", event.Critical), end.Add(window+time.Second)) {
				t.Errorf("after damping ended: change held back, want passed")
			}
		})
	}
}

func TestFlapDamperKeepsDampingWhileFlapping(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFlapDamper(time.Minute, 2)
	var summaries int
	held := 0
	for i := range 60 { // 10 minutes of a change every 10s
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		summaries += len(f.Due(now))
		state, sev := flip(i)
		if !f.Observe(probeEvent("pg", state, sev), now) {
			held++
		}
	}
	if held != 58 {
		t.Errorf("held back: got %d, want 58 (all but the first 2)", held)
	}
	// One summary per minute of damping: 9 windows ended inside the 10 minutes.
	if summaries != 9 {
		t.Errorf("summaries: got %d, want 9", summaries)
	}
	last := f.Flush(t0.Add(10 * time.Minute))
	if len(last) != 1 || last[0].Details["probe"] != "pg" {
		t.Fatalf("flush: got %v, want one pg summary", last)
	}
	if !f.Next().IsZero() {
		t.Errorf("after flush: got Next %s, want zero", f.Next())
	}
}

func TestFlapDamperPassesOtherEvents(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFlapDamper(time.Minute, 1)
	tests := []struct {
		name string
		e    event.Event
	}{
		{name: "another kind", e: event.Event{Kind: event.Failover}},
		{name: "probe_state without probe", e: event.Event{Kind: event.ProbeState, Details: map[string]any{"to": "ok"}}},
		{name: "probe_state with a non-string probe", e: event.Event{Kind: event.ProbeState, Details: map[string]any{"probe": 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 5 {
				if !f.Observe(tt.e, t0.Add(time.Duration(i)*time.Second)) {
					t.Fatalf("event %d: got held back, want passed", i)
				}
			}
		})
	}
	// Probes are damped independently.
	f.Observe(probeEvent("a", "failed", event.Critical), t0)
	if f.Observe(probeEvent("a", "ok", event.Info), t0.Add(time.Second)) {
		t.Errorf("probe a second change: got passed, want held back (threshold 1)")
	}
	if !f.Observe(probeEvent("b", "failed", event.Critical), t0.Add(time.Second)) {
		t.Errorf("probe b first change: got held back, want passed")
	}
}
