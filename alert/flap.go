package alert

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
)

// flapDamper turns a probe that keeps changing state into one summary alert
// per window. It keys probe_state events on Details["probe"] and reads the new
// state from Details["to"]. It is a plain struct driven with explicit times;
// the dispatcher's intake goroutine is its only user.
//
// A probe passes normally until it changes more than threshold times within
// window. The change that crosses the threshold and every later one are held
// back; when the window ends, one summary goes out (Details flaps, first_state,
// last_state, with the last change's severity and Resolved flag, so it states
// where the probe ended). A window with changes starts another window; a quiet
// window ends damping.
type flapDamper struct {
	window    time.Duration
	threshold int
	probes    map[string]*flapState
}

type flapState struct {
	changes []time.Time // passed changes within the window, oldest first
	damping bool
	since   time.Time   // start of the current damping window
	until   time.Time   // end of the current damping window
	held    int         // changes held back in this window
	first   event.Event // first change held back in this window
	last    event.Event // last change held back in this window
}

func newFlapDamper(window time.Duration, threshold int) *flapDamper {
	return &flapDamper{window: window, threshold: threshold, probes: map[string]*flapState{}}
}

// Observe records e at now and reports whether it should be sent now.
func (f *flapDamper) Observe(e event.Event, now time.Time) bool {
	if e.Kind != event.ProbeState || f.threshold <= 0 {
		return true
	}
	name, ok := e.Details["probe"].(string)
	if !ok || name == "" {
		return true
	}
	s := f.probes[name]
	if s == nil {
		s = &flapState{}
		f.probes[name] = s
	}
	if s.damping {
		s.hold(e)
		return false
	}
	cut := now.Add(-f.window)
	keep := s.changes[:0]
	for _, t := range s.changes {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	s.changes = append(keep, now)
	if len(s.changes) <= f.threshold {
		return true
	}
	s.changes = nil
	s.damping, s.since, s.until = true, now, now.Add(f.window)
	s.hold(e)
	return false
}

func (s *flapState) hold(e event.Event) {
	if s.held == 0 {
		s.first = e
	}
	s.held++
	s.last = e
}

// Next returns when the earliest damping window ends, or the zero time when no
// probe is damped.
func (f *flapDamper) Next() time.Time {
	var next time.Time
	for _, s := range f.probes {
		if s.damping && (next.IsZero() || s.until.Before(next)) {
			next = s.until
		}
	}
	return next
}

// Due returns the summaries of windows that ended by now and moves damping on:
// a window with held changes starts the next window, a quiet one ends damping.
func (f *flapDamper) Due(now time.Time) []event.Event {
	var out []event.Event
	for name, s := range f.probes {
		if !s.damping {
			if len(s.changes) > 0 && !s.changes[len(s.changes)-1].After(now.Add(-f.window)) {
				delete(f.probes, name) // forget probes that have been quiet for a window
			}
			continue
		}
		if now.Before(s.until) {
			continue
		}
		if s.held == 0 {
			delete(f.probes, name)
			continue
		}
		out = append(out, s.summary(name, now))
		s.held, s.since, s.until = 0, now, now.Add(f.window)
	}
	sortEvents(out)
	return out
}

// Flush returns a summary for every window with held changes, ending them all;
// the dispatcher calls it on shutdown so the last state is not lost.
func (f *flapDamper) Flush(now time.Time) []event.Event {
	var out []event.Event
	for name, s := range f.probes {
		if s.damping && s.held > 0 {
			out = append(out, s.summary(name, now))
		}
		delete(f.probes, name)
	}
	sortEvents(out)
	return out
}

func (s *flapState) summary(name string, now time.Time) event.Event {
	e := s.last
	e.ID = event.NewID(now)
	e.Time = now
	firstState, lastState := stateOf(s.first), stateOf(s.last)
	e.Summary = fmt.Sprintf("probe %s is flapping: %d changes held back in %s, now %s", name, s.held, now.Sub(s.since).Round(time.Second), lastState)
	d := maps.Clone(s.last.Details)
	if d == nil {
		d = map[string]any{}
	}
	d["flaps"] = s.held
	d["first_state"] = firstState
	d["last_state"] = lastState
	d["flapping_since"] = s.since.UTC().Format(time.RFC3339Nano)
	e.Details = d
	return e
}

func stateOf(e event.Event) string {
	if s, ok := e.Details["to"].(string); ok && s != "" {
		return s
	}
	if e.Resolved {
		return "ok"
	}
	return e.Summary
}

// sortEvents orders events by time, then probe name, so output is deterministic.
func sortEvents(es []event.Event) {
	slices.SortFunc(es, func(a, b event.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(a.Details["probe"]), fmt.Sprint(b.Details["probe"]))
	})
}
