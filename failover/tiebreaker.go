package failover

import (
	"time"

	"github.com/pbxha/pbxha/internal/clock"
)

// TieBreakerCalmEvery is how often a node asks its tie-breaker targets
// while no answer can matter soon: often enough for TieBreakerOK (this
// node's eligibility, the pair_unprotected cause no_tie_breaker) to follow
// a tie-breaker that stops answering within a second or two.
const TieBreakerCalmEvery = time.Second

// A tie-breaker answer counts for three things, each with its own age:
//
//   - reachable (eligibility, pair unprotected): the last round answered,
//     within tieBreakerStale — a few calm rounds, so that one round late
//     does not flap the node's eligibility;
//   - fresh (a takeover): within dead_after/2. The peer is declared dead
//     dead_after after its last heartbeat, and whatever silenced it
//     happened at most one heartbeat interval (≤ dead_after/2) after it;
//     an answer within dead_after/2 therefore came after the silence began
//     and shows that this node's own network still works;
//   - a primary's isolation: no answer for isolation_after (with its peer
//     not hearing it) makes a primary step down.

// tieBreakerEvery is the cadence while an answer can matter, and the
// longest a round's connect may take: dead_after/5.
func (p Policy) tieBreakerEvery() time.Duration { return p.deadAfter() / 5 }

// tieBreakerFresh: an answer younger than this may justify a takeover.
func (p Policy) tieBreakerFresh() time.Duration { return p.deadAfter() / 2 }

// tieBreakerStale: an answer older than this no longer makes the
// tie-breaker reachable.
func (p Policy) tieBreakerStale() time.Duration {
	return 3*TieBreakerCalmEvery + p.tieBreakerEvery()
}

// tieBreakerLead is how long before a primary's isolation step-down falls
// due it asks its tie-breaker: the time a target has to answer. The peer's
// acknowledgements arrive about one interval apart (a standby answers each
// of its primary's heartbeats at once), so a round starts only once one of
// them is a quarter interval late: isolation_after less 1.25 intervals, at
// least a quarter of isolation_after (then the rounds run at every
// acknowledgement's gap, as before).
func (p Policy) tieBreakerLead() time.Duration {
	iv := p.interval()
	return max(p.IsolationAfter-iv-iv/4, p.IsolationAfter/4)
}

// TieBreakerDue returns when this node's next round of tie-breaker checks
// should start, the last having been asked for at last (zero: never), and
// whether it is urgent: an answer can matter by then, so the round starts
// at that time. A round that is not urgent keeps the calm cadence
// (TieBreakerCalmEvery, the last grid point of the heartbeat interval
// within it: clock.Grid) and may start a little early, with a decision
// taken for another reason, so that it costs no wake-up of its own.
//
// An answer can matter to any node whose last round got none (it is not
// eligible until one comes); to a primary when its isolation step-down comes
// near — its peer's acknowledgement is late (see tieBreakerLead) — and to
// any other node when a takeover may come: no live primary is heard (from
// the moment the primary's silence reaches dead_after), a switchover is
// asked for, the primary does not hear this node, or the node stepped down as cut
// off and needs an answer from after it. Then rounds follow each other
// every dead_after/5, as they always did; otherwise every
// TieBreakerCalmEvery.
func TieBreakerDue(o Observation, p Policy, last time.Time) (due time.Time, urgent bool) {
	calm := o.Now
	if !last.IsZero() {
		calm = clock.GridWithin(last, TieBreakerCalmEvery, p.interval())
	}
	from, ok := tieBreakerMatters(o, p)
	if !ok {
		return calm, false
	}
	fast := from
	if !last.IsZero() {
		fast = later(fast, last.Add(p.tieBreakerEvery()))
	}
	if fast.Before(calm) {
		return fast, true
	}
	return calm, false
}

// tieBreakerMatters returns from when a tie-breaker answer can matter to
// this node, and false when it cannot beyond reachability.
func tieBreakerMatters(o Observation, p Policy) (time.Time, bool) {
	if p.Single {
		return time.Time{}, false
	}
	if !o.TieBreakerOK {
		// The last round got no answer: this node is not eligible until
		// one comes, which the next round should find out soon, not a
		// calm round later (a node whose link came back would otherwise
		// stay ineligible, and its eligibility hold unstarted, for up
		// to a second more).
		return o.Now, true
	}
	v, iv := o.Peer, p.interval()
	if o.Role == RolePrimary {
		if p.IsolationAfter <= 0 {
			return time.Time{}, false
		}
		// The step-down falls due isolation_after after the later of the
		// two; a round started tieBreakerLead before has that long.
		return later(o.ConfirmedAt, o.TieBreakerAt).Add(p.IsolationAfter - p.tieBreakerLead()), true
	}
	calm := v.Alive && v.Role == RolePrimary && !o.Switchover.Active() && !v.Switchover.Active() &&
		o.SteppedDownAt.IsZero() && (v.Version < 2 || v.LastHeard.Sub(o.ConfirmedAt) < 2*iv)
	if !calm {
		return o.Now, true
	}
	// Calm until the primary dies: a takeover comes TakeoverWait after its
	// last heartbeat, at least dead_after, and needs an answer from
	// within isolation_after (and dead_after/2) before it; rounds from the
	// death on, every dead_after/5, bring one.
	return v.deadAt(p), true
}

// tieBreakerReachable: the last round answered, recently enough.
func (s situation) tieBreakerReachable() bool {
	return s.o.TieBreakerOK && s.since(s.o.TieBreakerAt) < s.p.tieBreakerStale()
}
