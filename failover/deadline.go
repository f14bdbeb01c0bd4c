package failover

import (
	"slices"
	"time"
)

// NextDeadline returns the first instant after o.Now at which Decide would
// decide differently — another action, role, epoch, eligibility, alert,
// force or failback due — if nothing else changed meanwhile: no heartbeat
// arrived, no local state changed, no action finished. The peer counts as
// dead from o.Peer.DeadAt on. It returns the zero time when no such
// instant exists.
//
// The node decides at that instant or on an event, whichever comes first,
// so that every rule that waits for time to pass — dead_after, the
// takeover wait, isolation_after after ConfirmedAt and TieBreakerAt,
// init_dead, restart_grace, the eligibility hold, retry delays, the
// hold after heartbeats were lost unread,
// restart_hold, failback_delay and failback_drain, the failback window,
// the tie-breaker's freshness — acts on time, not up to a tick later.
//
// It is pure: it tries Decide at every instant one of those rules turns
// (the deadlines of o and p) and returns the first at which the decision
// changes. Reasons are not compared: they name durations and change all
// the time.
func NextDeadline(o Observation, p Policy) time.Time {
	if p.Single {
		return time.Time{} // a single node's role does not depend on time
	}
	base := decide(o, p, false)
	for _, t := range deadlines(o, p) {
		if !decide(o.at(t, p), p, false).same(base) {
			return t
		}
	}
	return time.Time{}
}

// at returns o as it stands at t if nothing else changes: the peer dies at
// its DeadAt (dead_after past its last heartbeat when DeadAt is not set).
func (o Observation) at(t time.Time, p Policy) Observation {
	o.Now = t
	if dead := o.Peer.deadAt(p); o.Peer.Alive && !dead.IsZero() && !t.Before(dead) {
		o.Peer.Alive = false
	}
	return o
}

// deadAt is DeadAt, or dead_after past LastHeard when it is not set.
func (v PeerView) deadAt(p Policy) time.Time {
	if v.DeadAt.IsZero() && v.Heard {
		return v.LastHeard.Add(p.deadAfter())
	}
	return v.DeadAt
}

// same reports whether two decisions do the same thing.
func (d Decision) same(e Decision) bool {
	return d.Action == e.Action && d.Role == e.Role && d.NextEpoch == e.NextEpoch && d.Eligible == e.Eligible &&
		d.Alert == e.Alert && d.Force == e.Force && d.FailbackDue == e.FailbackDue
}

// deadlines returns, in order and without repeats, every instant after
// o.Now at which a rule of Decide turns for o: each time comparison Decide
// makes has its threshold here.
func deadlines(o Observation, p Policy) []time.Time {
	var ts []time.Time
	after := func(t time.Time, d time.Duration) {
		if !t.IsZero() {
			ts = append(ts, t.Add(d))
		}
	}
	v := o.Peer
	if v.Heard {
		if v.Alive {
			after(v.deadAt(p), 0)
		}
		after(v.LastHeard, p.TakeoverWait(v.StepDown))
		after(v.LastHeard, p.restartHold())
		after(v.BadMACAt, p.deadAfter())
		after(v.HealthySince, p.FailbackDelay)
	}
	if p.IsolationAfter > 0 {
		// Isolated once both are isolation_after old: the later one
		// decides (a zero one is as old as can be).
		after(later(o.ConfirmedAt, o.TieBreakerAt), p.IsolationAfter)
	}
	after(o.HeartbeatLossAt, p.deadAfter())
	after(o.TieBreakerAt, p.tieBreakerFresh())
	after(o.TieBreakerAt, p.tieBreakerStale())
	after(o.StartedAt, p.InitDead)
	after(o.EligibleSince, p.hold())
	after(o.FailedSince, p.RestartGrace)
	after(o.FailbackDueSince, p.FailbackDrain)
	after(o.LastAnnounce, ReAnnounceEvery)
	for _, t := range o.RetryAt {
		after(t, 0)
	}
	after(p.FailbackWindow.Next(o.Now), 0)
	ts = slices.DeleteFunc(ts, func(t time.Time) bool { return !t.After(o.Now) })
	slices.SortFunc(ts, time.Time.Compare)
	return slices.CompactFunc(ts, time.Time.Equal)
}

// Next returns the first instant after t at which Open(t) changes; the zero
// time for the always-open Window.
func (w Window) Next(t time.Time) time.Time {
	if w.From == w.To || t.IsZero() {
		return time.Time{}
	}
	y, m, d := t.Date()
	var next time.Time
	for day := range 3 {
		midnight := time.Date(y, m, d+day-1, 0, 0, 0, 0, t.Location())
		for _, edge := range []time.Duration{w.From, w.To} {
			// The time since midnight, as Open reads it.
			at := midnight.Add(edge)
			if at.After(t) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next
}

// rest is what the decision loop sleeps on between two decisions: the
// observation of the last one as the next would start from (its
// EligibleSince and FailbackDueSince brought up to date), whether the node
// asks tie-breakers, and when it last asked for a round.
type rest struct {
	o          Observation
	tieBreaker bool
	tbAsked    time.Time
}

// until returns the first instant at which the node must decide again for
// the decision's sake: the earlier of NextDeadline and, for a node that
// asks tie-breakers, the next round due (TieBreakerDue). Zero when neither
// comes.
func (r rest) until(p Policy) time.Time {
	wake := NextDeadline(r.o, p)
	if r.tieBreaker && !p.Single {
		if due, _ := TieBreakerDue(r.o, p, r.tbAsked); wake.IsZero() || due.Before(wake) {
			wake = due
		}
	}
	return wake
}

// heard returns r once a heartbeat arrived at now that changed the peer's
// view in its times only: the peer is seen as v, and the newest heartbeat
// of this node it says it heard was sent at confirmed (zero: none newer
// than r's). It reports false when Decide decides otherwise on that than
// on r: the node must then decide at once rather than sleep on.
//
// This is what lets a heartbeat put off the loop's wake-up instead of
// waking it: at rest the primary's isolation round falls due a little
// after each acknowledgement, and the next acknowledgement, which moves
// it, always comes first.
func (r rest) heard(p Policy, now time.Time, v PeerView, confirmed time.Time) (rest, bool) {
	base := Decide(r.o, p)
	r.o.Now, r.o.Peer, r.o.ConfirmedAt = now, v, later(r.o.ConfirmedAt, confirmed)
	return r, Decide(r.o, p).same(base)
}
