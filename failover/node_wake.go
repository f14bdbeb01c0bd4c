package failover

import "time"

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
//   - restEvery from now.
//
// The timers are coalesced into this one instant: the loop sleeps on a
// single timer.
func (n *Node) nextWake(now time.Time, o Observation, d Decision) time.Time {
	ls := &n.loopPrivate
	wake := now.Add(restEvery)
	at := func(t time.Time) {
		if !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	at(NextDeadline(o, n.cfg.Policy))
	at(n.tracker.nextPathDeath(now))
	if ask := n.cfg.AskTieBreaker; ask != nil && !n.cfg.Policy.Single {
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
	n.mu.Lock()
	if n.request.Outcome == "pending" {
		at(n.request.Since.Add(n.cfg.SwitchoverTimeout))
	}
	n.mu.Unlock()
	if sd := &ls.sd; sd.checking.IsZero() {
		at(sd.nextCheck)
	} else {
		at(sd.checking.Add(stateDirCheckStuck))
	}
	if !ls.splitAt.IsZero() {
		at(ls.splitAt.Add(splitBrainRepeat))
	}
	if w := &ls.watch; !w.unprotectedSince.IsZero() && w.unprotected == "" {
		at(w.unprotectedSince.Add(n.unprotectedGrace()))
	}
	if w := &ls.watch; w.authRaised {
		at(w.authAt.Add(authWindow))
	}
	// A deadline that passed while deciding is due at once; waking a
	// moment after it keeps a timer from firing for nothing before it.
	return later(wake, now)
}
