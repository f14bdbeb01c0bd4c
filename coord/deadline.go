package coord

import (
	"slices"
	"time"
)

// NextDeadline returns the first instant after o.Now at which Decide would
// decide differently — another action, role, eligibility, failback target
// or force — if nothing else changed meanwhile: no key changed in etcd, no
// renewal was answered, no local state changed, no action finished. It
// returns the zero time when no such instant exists.
//
// The runtime decides at that instant or on an event, whichever comes
// first, so that every rule that waits for time to pass acts on time, not
// up to a tick later: the step-down point of the lease (StepDownAt of
// SafeUntil: a leader steps down there, and a follower stops being
// eligible), the end of InitWait, a vacancy older than the lease TTL, the
// end of restart_grace, a member eligible for failback_delay, and the
// retry delays.
//
// It is pure: it tries Decide at every instant one of those rules turns
// and returns the first at which the decision changes. Reasons are not
// compared: they name durations and change all the time.
func NextDeadline(o Observation, p Policy) time.Time {
	base := Decide(o, p)
	for _, t := range deadlines(o, p) {
		at := o
		at.Now = t
		if !Decide(at, p).same(base) {
			return t
		}
	}
	return time.Time{}
}

// same reports whether two decisions do the same thing.
func (d Decision) same(e Decision) bool {
	return d.Action == e.Action && d.Role == e.Role && d.Eligible == e.Eligible && d.Target == e.Target && d.Force == e.Force
}

// deadlines returns, in order and without repeats, every instant after
// o.Now at which a rule of Decide turns for o: each time comparison Decide
// makes has its threshold here.
func deadlines(o Observation, p Policy) []time.Time {
	ts := make([]time.Time, 0, 8+len(o.Members)+len(o.RetryAt))
	after := func(t time.Time, d time.Duration) {
		if !t.IsZero() {
			ts = append(ts, t.Add(d))
		}
	}
	if !o.SafeUntil.IsZero() {
		ts = append(ts, p.StepDownAt(o.SafeUntil)) // stepDownReason, eligible
	}
	after(o.StartedAt, p.initWait()) // follower: the start-up wait
	if !o.NoLeaderSince.IsZero() {
		// vacancyOver: strictly more than the TTL past the later of the
		// vacancy's start and the end of InitWait.
		from := o.NoLeaderSince
		if w := o.StartedAt.Add(p.initWait()); w.After(from) {
			from = w
		}
		after(from, p.LeaseTTL+1)
	}
	after(o.FailedSince, p.RestartGrace)
	for _, m := range o.Members {
		after(m.EligibleSince, p.FailbackDelay)
	}
	for _, t := range o.RetryAt {
		after(t, 0)
	}
	ts = slices.DeleteFunc(ts, func(t time.Time) bool { return !t.After(o.Now) })
	slices.SortFunc(ts, time.Time.Compare)
	return slices.CompactFunc(ts, time.Time.Equal)
}
