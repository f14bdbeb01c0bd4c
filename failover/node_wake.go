package failover

import (
	"time"

	"github.com/pbxha/pbxha/internal/clock"
)

// restEvery is the longest the decision loop sleeps: what no event
// announces — a new database reading, the PBX supervisor's state, the
// call count, maintenance set in the agent, a peer's clock offset, the
// MAC failures counted by the readers — is looked at within this long.
const restEvery = time.Second

// nextWake returns when the loop must decide next if nothing happens
// before: the first of
//
//   - NextDeadline: the next instant Decide would decide differently;
//   - the next instant a live heartbeat path goes silent (path events,
//     and the moment the peer dies, which starts the takeover's timeline);
//   - the next tie-breaker round due (TieBreakerDue), asked for now when
//     due: an urgent one exactly on time, a calm one up to a quarter of
//     TieBreakerCalmEvery early, so that it shares a wake-up with a
//     decision taken for another reason;
//   - the background jobs' next steps: the switchover request's timeout,
//     the state directory's check, a split brain's repeated alert,
//     pair_unprotected's grace and heartbeat_auth_failed's window;
//   - restEvery from now, or the grid point of the heartbeat interval
//     before it (restUntil).
//
// The timers are coalesced into this one instant: the loop sleeps on a
// single timer. The first three move with the peer's heartbeats; nextWake
// leaves what they were computed from in the loop's state (ls.rest), so
// that a heartbeat can put the wake-up off (pushBack) rather than wake
// the loop to find it later.
func (n *Node) nextWake(now time.Time, o Observation, d Decision) time.Time {
	ls := &n.loopPrivate
	other := n.restUntil(now)
	atOther := func(t time.Time) {
		if !t.IsZero() && t.Before(other) {
			other = t
		}
	}
	n.mu.Lock()
	if n.request.Outcome == "pending" {
		atOther(n.request.Since.Add(n.cfg.SwitchoverTimeout))
	}
	n.mu.Unlock()
	if sd := &ls.sd; sd.checking.IsZero() {
		atOther(sd.nextCheck)
	} else {
		atOther(sd.checking.Add(stateDirCheckStuck))
	}
	if !ls.splitAt.IsZero() {
		atOther(ls.splitAt.Add(splitBrainRepeat))
	}
	if w := &ls.watch; !w.unprotectedSince.IsZero() && w.unprotected == "" {
		atOther(w.unprotectedSince.Add(n.unprotectedGrace()))
	}
	if w := &ls.watch; w.authRaised {
		atOther(w.authAt.Add(authWindow))
	}

	wake := other
	at := func(t time.Time) {
		if !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	at(NextDeadline(o, n.cfg.Policy))
	at(n.tracker.nextPathDeath(now))
	ask := n.cfg.AskTieBreaker
	if ask != nil && !n.cfg.Policy.Single {
		due, urgent := TieBreakerDue(o, n.cfg.Policy, ls.tbAsked)
		early := due
		if !urgent {
			early = due.Add(-TieBreakerCalmEvery / 4)
		}
		if !now.Before(early) {
			ask(urgent)
			ls.tbAsked = now
			due, _ = TieBreakerDue(o, n.cfg.Policy, now)
		}
		at(due)
	}
	ls.rest = rest{o: o, tieBreaker: ask != nil, tbAsked: ls.tbAsked}
	ls.rest.o.EligibleSince, ls.rest.o.FailbackDueSince = ls.eligibleSince, ls.failbackSince
	ls.restOther = other
	// A deadline that passed while deciding is due at once; waking a
	// moment after it keeps a timer from firing for nothing before it.
	return later(wake, now)
}

// restUntil returns the latest wake-up a decision at now leaves the loop:
// the last point of the heartbeat interval's grid within restEvery
// (clock.GridWithin), where this node's heartbeats and probe checks wake
// the process anyway.
func (n *Node) restUntil(now time.Time) time.Time {
	return clock.GridWithin(now, restEvery, n.cfg.Interval)
}

// resting is the decision loop's sleep between two decisions, which the
// receiver may put off (pushBack). Guarded by Node.restMu.
type resting struct {
	timer clock.Timer // the loop's timer; nil while the loop does not run
	at    time.Time   // when it fires
	r     rest        // what the last decision's nextWake saw
	other time.Time   // the earliest of nextWake's terms no heartbeat moves
}

// sleep sets the loop's timer t to fire at wake, and records what the
// last decision's nextWake saw for pushBack.
func (n *Node) sleep(t clock.Timer, wake time.Time) {
	ls := &n.loopPrivate
	n.restMu.Lock()
	defer n.restMu.Unlock()
	n.resting = resting{timer: t, at: wake, r: ls.rest, other: ls.restOther}
	t.Reset(wake.Sub(n.clock.Now()))
}

// stopResting forgets the loop's timer once the loop stops: pushBack leaves it alone then.
func (n *Node) stopResting() {
	n.restMu.Lock()
	defer n.restMu.Unlock()
	n.resting = resting{}
}

// pushBack is called by the receiver for a fresh heartbeat that arrived at
// now and changed the peer's view in its times only (no Poke). When the
// loop's wake-up falls due before the next heartbeat is expected (1.5
// intervals) and comes from what heartbeats move — NextDeadline, a path's
// death, the tie-breaker round due — it computes the wake-up anew on the
// newer view (rest.heard): later, the timer is put off; when the
// heartbeat changes the decision or the wake-up is due already, the loop
// is poked. A wake-up further off is left to the next heartbeats.
func (n *Node) pushBack(now time.Time) {
	n.restMu.Lock()
	defer n.restMu.Unlock()
	s := &n.resting
	if s.timer == nil || !s.at.After(now) || !s.at.Before(s.other) ||
		!s.at.Before(now.Add(n.cfg.Interval+n.cfg.Interval/2)) {
		return
	}
	v := n.tracker.View(now)
	r, same := s.r.heard(n.cfg.Policy, now, v, n.confirmedBy(v))
	if !same {
		n.Poke()
		return
	}
	wake := s.other
	for _, t := range []time.Time{r.until(n.cfg.Policy), n.tracker.nextPathDeath(now)} {
		if !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	if !wake.After(now) {
		n.Poke()
		return
	}
	if wake.Equal(s.at) {
		return
	}
	s.at = wake
	s.timer.Reset(wake.Sub(n.clock.Now()))
}

// confirmedBy returns the send time of this node's heartbeat that v says
// the peer heard last, as confirmedLocked reads it for a peer whose boot
// and liveness did not change; zero when v names none of this boot.
func (n *Node) confirmedBy(v PeerView) time.Time {
	if !v.Heard {
		return time.Time{}
	}
	if v.Version < 2 {
		if v.Alive {
			return v.LastHeard
		}
		return time.Time{}
	}
	if v.HeardBoot != n.boot {
		return time.Time{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	at, _ := n.sentAtLocked(v.HeardSeq)
	return at
}
