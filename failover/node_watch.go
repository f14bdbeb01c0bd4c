package failover

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/event"
)

// Alert defaults of a node.
const (
	// DefaultUnprotectedGrace: the pair may be unable to survive the next
	// fault this long before pair_unprotected is raised.
	DefaultUnprotectedGrace = 30 * time.Second
	// DefaultMaxClockOffset: the peer's clock may be off by this much
	// before clock_offset is raised.
	DefaultMaxClockOffset = 500 * time.Millisecond
	// authFailedAfter: this many heartbeats from the peer's address that
	// fail the MAC within authWindow raise heartbeat_auth_failed; none for
	// authWindow resolves it.
	authFailedAfter = 3
	authWindow      = 10 * time.Second
)

// watchState is what the node's conditions that page someone remember.
type watchState struct {
	unprotectedSince time.Time // the pair first could not survive the next fault; zero when it can
	unprotected      string    // the reason raised, "" when none is outstanding
	clockRaised      bool
	authSeen         uint64    // bad MACs counted at the last look
	authAt           time.Time // when bad MACs last grew
	authBurst        uint64    // bad MACs since the burst began
	authRaised       bool
}

// Causes of an unprotected pair: what Protection found, as a short code
// for metrics and alert routing.
const (
	UnprotectedPeerUnheard     = "peer_unheard"      // the peer is not heard: nobody stands by
	UnprotectedPeerMaintenance = "peer_maintenance"  // the peer is in maintenance mode
	UnprotectedPeerIneligible  = "peer_not_eligible" // the peer could not take over (fault, failed health, tracked link down)
	UnprotectedNoStreaming     = "no_streaming"      // no standby streams from this node's database
	UnprotectedLag             = "standby_lag"       // the standby's database is beyond max_lag_bytes
	UnprotectedNoTieBreaker    = "no_tie_breaker"    // no tie-breaker target answers this node
)

// UnprotectedCauses lists every cause Protection returns, for metrics.
var UnprotectedCauses = []string{UnprotectedPeerUnheard, UnprotectedPeerMaintenance, UnprotectedPeerIneligible,
	UnprotectedNoStreaming, UnprotectedLag, UnprotectedNoTieBreaker}

// Protection says why the pair, as this primary sees it, could not
// survive the next fault: the peer dead, in maintenance or not eligible,
// no standby streaming from this node's database, the standby's database
// beyond max_lag_bytes, no tie-breaker reachable from here. It returns the
// cause (one of UnprotectedCauses) and a sentence for people, both empty
// when the pair is protected, and always on a node that is not primary.
func Protection(o Observation, p Policy) (cause, why string) {
	v := o.Peer
	switch {
	case o.Role != RolePrimary:
		return "", ""
	case !v.Alive:
		return UnprotectedPeerUnheard, "the peer is not heard: nobody stands by"
	case v.Maintenance:
		return UnprotectedPeerMaintenance, "the peer is in maintenance mode: it would not take over"
	case !v.Eligible || !serves(v.Health):
		return UnprotectedPeerIneligible, fmt.Sprintf("the peer is not eligible (%s, %s): it would not take over", v.Role, v.Health)
	case o.DB == DBPrimary && o.NoStreamingStandby:
		return UnprotectedNoStreaming, "no standby streams from this node's database: a failover would lose writes"
	case o.DB == DBPrimary && v.DB != DBNone && o.WAL > v.WAL && o.WAL-v.WAL > p.MaxLagBytes && !p.AllowLagPromote:
		return UnprotectedLag, fmt.Sprintf("the standby's database is %d bytes behind (max_lag_bytes %d): it would not promote", o.WAL-v.WAL, p.MaxLagBytes)
	case !(situation{o: o, p: p}).tieBreakerReachable():
		return UnprotectedNoTieBreaker, "no tie-breaker target answers this node"
	}
	return "", ""
}

// watch raises and resolves the events of lasting conditions after a
// decision: pair_unprotected (after the grace), clock_offset, isolated
// resolved once the peer hears this node again, vip_lost when the VIP is
// found gone, heartbeat_auth_failed.
func (n *Node) watch(now time.Time, o Observation, d Decision) {
	ls := &n.loopPrivate
	w := &ls.watch
	// pair_unprotected
	cause, why := Protection(o, n.cfg.Policy)
	switch {
	case cause == "":
		w.unprotectedSince = time.Time{}
		if w.unprotected != "" {
			n.emit(event.Event{Kind: event.PairUnprotected, Severity: event.Info, Time: now, Resolved: true,
				Summary: n.cfg.Node + ": the pair is protected again", Details: map[string]any{"reason": w.unprotected}})
			w.unprotected = ""
		}
	case w.unprotectedSince.IsZero():
		w.unprotectedSince = now
	case w.unprotected == "" && now.Sub(w.unprotectedSince) >= n.unprotectedGrace():
		w.unprotected = why
		n.log.Warn("the pair could not survive the next fault", "reason", why, "since", w.unprotectedSince)
		n.emit(event.Event{Kind: event.PairUnprotected, Severity: event.Warning, Time: now,
			Summary: fmt.Sprintf("%s: the pair is unprotected for %s: %s", n.cfg.Node, now.Sub(w.unprotectedSince).Round(time.Second), why),
			Details: map[string]any{"cause": cause, "reason": why, "since": w.unprotectedSince.Format(time.RFC3339)}})
	}
	n.mu.Lock()
	n.st.Unprotected, n.st.UnprotectedCause = why, cause
	n.mu.Unlock()

	// clock_offset
	if v := o.Peer; v.Alive {
		off := v.ClockOffset.Abs()
		switch {
		case !w.clockRaised && off > n.maxClockOffset():
			w.clockRaised = true
			n.log.Warn("the peer's clock is off", "offset", v.ClockOffset, "max", n.maxClockOffset())
			n.emit(event.Event{Kind: event.ClockOffset, Severity: event.Warning, Time: now,
				Summary: fmt.Sprintf("%s: %s's clock is off by %s (max_clock_offset %s): logs and timelines of the pair disagree", n.cfg.Node, v.Node, v.ClockOffset.Round(time.Millisecond), n.maxClockOffset()),
				Details: map[string]any{"offset_ms": v.ClockOffset.Milliseconds(), "peer": v.Node}})
		case w.clockRaised && off < n.maxClockOffset()*4/5:
			w.clockRaised = false
			n.emit(event.Event{Kind: event.ClockOffset, Severity: event.Info, Time: now, Resolved: true,
				Summary: fmt.Sprintf("%s: %s's clock is within %s again", n.cfg.Node, v.Node, n.maxClockOffset()),
				Details: map[string]any{"offset_ms": v.ClockOffset.Milliseconds(), "peer": v.Node}})
		}
	}

	// isolated: resolved once the peer hears this node again.
	if !ls.isolated.IsZero() && o.ConfirmedAt.After(ls.isolated) {
		ls.isolated = time.Time{}
		n.emit(event.Event{Kind: event.Isolated, Severity: event.Info, Time: now, Resolved: true,
			Summary: fmt.Sprintf("%s hears %s again after stepping down; epochs decide who is primary", n.cfg.Node, o.Peer.Node)})
	}
	// vip_lost: raised when Decide puts the VIP back.
	if d.Action == ActionRestoreVIP && !ls.vipLost && o.Busy == ActionNone {
		ls.vipLost = true
		n.log.Warn("the VIP left this node's interface", "action", ActionRestoreVIP)
		n.emit(event.Event{Kind: event.VIPLost, Severity: event.Critical, Time: now,
			Summary: n.cfg.Node + ": the VIP left this primary's interface; putting it back"})
	}
	n.watchAuth(now)
}

// vipRestored resolves vip_lost.
func (n *Node) vipRestored(now time.Time) {
	ls := &n.loopPrivate
	if !ls.vipLost {
		return
	}
	ls.vipLost = false
	n.emit(event.Event{Kind: event.VIPLost, Severity: event.Info, Time: now, Resolved: true,
		Summary: n.cfg.Node + ": the VIP is back on this primary's interface and announced"})
}

// watchAuth raises heartbeat_auth_failed when packets from the peer's
// address keep failing the MAC (the nodes' keys differ: nothing they send
// each other counts), and resolves it once none did for a while.
func (n *Node) watchAuth(now time.Time) {
	w := &n.loopPrivate.watch
	_, drops := n.tracker.Counters()
	bad := drops[DropReason(ErrBadMAC)]
	switch {
	case bad > w.authSeen:
		if now.Sub(w.authAt) > authWindow {
			w.authBurst = 0
		}
		w.authBurst += bad - w.authSeen
		w.authSeen, w.authAt = bad, now
		if !w.authRaised && w.authBurst >= authFailedAfter {
			w.authRaised = true
			n.log.Error("heartbeats from the peer's address fail the MAC: the keys differ", "count", w.authBurst)
			n.emit(event.Event{Kind: event.HeartbeatAuthFailed, Severity: event.Critical, Time: now,
				Summary: fmt.Sprintf("%s: %d heartbeats from the peer's address failed the MAC: the two nodes' keys differ (peer.key_file, peer.next_key_file), so neither counts the other's heartbeats", n.cfg.Node, w.authBurst),
				Details: map[string]any{"count": w.authBurst}})
		}
	case w.authRaised && now.Sub(w.authAt) > authWindow:
		w.authRaised, w.authBurst = false, 0
		n.emit(event.Event{Kind: event.HeartbeatAuthFailed, Severity: event.Info, Time: now, Resolved: true,
			Summary: n.cfg.Node + ": no heartbeat failed the MAC for " + authWindow.String()})
	}
}

func (n *Node) unprotectedGrace() time.Duration {
	if n.cfg.UnprotectedGrace > 0 {
		return n.cfg.UnprotectedGrace
	}
	return DefaultUnprotectedGrace
}

func (n *Node) maxClockOffset() time.Duration {
	if n.cfg.MaxClockOffset > 0 {
		return n.cfg.MaxClockOffset
	}
	return DefaultMaxClockOffset
}

// isolatedEvent raises isolated when a step-down is done, with its
// timeline.
func (n *Node) isolatedEvent(tl Timeline, j *job) {
	n.loopPrivate.isolated = tl.Released
	details := tl.Details()
	details["epoch"], details["reason"] = j.move.Epoch, j.d.Reason
	n.emit(event.Event{Kind: event.Isolated, Severity: event.Critical, Time: tl.Released,
		Summary: fmt.Sprintf("%s stepped down in %s: %s", n.cfg.Node, tl.Since(tl.Released).Round(time.Millisecond), j.d.Reason),
		Details: details})
}

// stepDownMargin is added to a measured step-down before it is announced.
const stepDownMargin = 1.25

// measureStepDown takes what a release or step-down took to make the
// database stop taking writes and remove the VIP — the part a step-down
// does before the peer may take over — and announces the larger of the
// configured budget and the slowest such time measured since start (with a
// 25 % margin) in the heartbeats, so the peer's takeover wait covers a
// step-down as slow as this node's have been. A step-down slower than the
// announced budget is logged: it may have overlapped with a takeover.
func (n *Node) measureStepDown(tl Timeline, started time.Time) {
	from := started
	if !tl.HooksRan.IsZero() && tl.HooksRan.Before(tl.VIPDown) && tl.HooksRan.Before(tl.DBDemoted) {
		from = tl.HooksRan // a release runs its hooks first; they are not part of a step-down's budget
	}
	done := tl.VIPDown
	if tl.DBDemoted.After(done) {
		done = tl.DBDemoted
	}
	if done.IsZero() || done.Before(from) {
		return
	}
	took := done.Sub(from)
	n.mu.Lock()
	announced := n.hb.StepDown
	if need := time.Duration(float64(took) * stepDownMargin).Round(time.Millisecond); need > announced {
		n.hb.StepDown = need
		n.st.StepDownBudget = need
	}
	n.mu.Unlock()
	if took > announced {
		n.log.Warn("stepping down took longer than the budget the peer waits for", "took", took.Round(time.Millisecond),
			"budget", announced, "now_announced", time.Duration(float64(took)*stepDownMargin).Round(time.Millisecond))
	}
}
