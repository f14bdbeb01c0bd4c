package failover

import (
	"strconv"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// stepDown reports whether this primary must step down now, and why. Its peer takes over from a silence of Policy.TakeoverWait; the
// step-down starts early enough to have ended by then:
//
//   - isolated: the peer has not heard this node (ConfirmedAt), and no
//     tie-breaker target answered, for isolation_after;
//   - unheard by a live peer that could take over (without the VIP
//     witness): the peer's heartbeats still arrive, but the newest says it
//     last heard this node OneWayAfter before it arrived, so the peer takes
//     over soon (a one-way cut). A peer that went silent (dead, or the link
//     cut both ways) says nothing of the kind: its last heartbeat heard
//     this node.
func (s situation) stepDown() (why string, ok bool) {
	o, p, v := s.o, s.p, s.o.Peer
	if p.IsolationAfter <= 0 {
		return "", false
	}
	if s.isolated() {
		return s.sprintf("%s: stepping down, database first, before %s may take over", s.isolation(), s.peer), true
	}
	if p.oneWay() && v.Alive && v.Version >= 2 && (v.Role == RoleStandby || v.Role == RoleInit) && v.Eligible && !v.Maintenance &&
		!o.ConfirmedAt.IsZero() && v.LastHeard.Sub(o.ConfirmedAt) >= p.OneWayAfter() {
		return s.sprintf("%s is heard but had not heard this node for %s when it last wrote, and could take over: stepping down, database first, before it does",
			s.peer, round(v.LastHeard.Sub(o.ConfirmedAt))), true
	}
	return "", false
}

// isolated reports whether the peer has not heard this node, and no
// tie-breaker target has answered it, for isolation_after: a primary so
// cut off steps down, and a standby so cut off takes nothing over (it may
// just have stepped down, and the peer, which does not hear it, takes over
// soon).
func (s situation) isolated() bool {
	p := s.p.IsolationAfter
	return p > 0 && s.since(s.o.ConfirmedAt) >= p && s.since(s.o.TieBreakerAt) >= p
}

// isolation says for how long this node has been isolated.
func (s situation) isolation() string {
	return s.sprintf("isolated: %s has not heard this node for %s and no tie-breaker target answered for %s (isolation_after %s)",
		s.peer, round(s.since(s.o.ConfirmedAt)), round(s.since(s.o.TieBreakerAt)), s.p.IsolationAfter)
}

// round shortens a duration for a reason; "a long time" for never.
func round(d time.Duration) string {
	if d > 100*365*24*time.Hour {
		return "ever"
	}
	return d.Round(time.Millisecond).String()
}

func (s situation) primary(d Decision) Decision {
	o, p := s.o, s.p
	v := o.Peer
	if v.Alive && v.Role == RolePrimary {
		if v.Epoch > o.Epoch || (v.Epoch == o.Epoch && !s.wins()) {
			d.Role = RoleStandby // the peer's epoch is learnt once released
			return d.with(ActionRelease, s.sprintf("split brain: %s is primary at epoch %d, ours %d: releasing", s.peer, v.Epoch, o.Epoch))
		}
		return d.with(ActionReAnnounce, s.sprintf("split brain: %s is also primary at epoch %d, ours %d: staying primary, re-announcing the VIP", s.peer, v.Epoch, o.Epoch))
	}
	release := func(role Role, reason string) Decision {
		d.Role, d.NextEpoch = role, o.Epoch // the peer's epoch is learnt once released
		return d.with(ActionRelease, reason)
	}
	restart := func(reason string) Decision {
		switch {
		case o.LinkDown != "":
			return d.with(ActionNone, reason+"; a restart of the PBX would not bring the link back")
		case p.NoRestart:
			return d.with(ActionNone, reason+"; the PBX is not supervised: not restarting it")
		case o.DBOnlyFailed:
			return d.with(ActionNone, reason+"; only the database failed: not restarting the PBX")
		case o.RestartPending:
			return d.with(ActionNone, reason+"; PBX restart under way")
		}
		return d.with(ActionRestartPBX, reason+"; restarting the PBX")
	}
	what := "service failed"
	if o.LinkDown != "" {
		what = s.sprintf("tracked link %s lost carrier", o.LinkDown)
	}
	switch {
	case o.PBXFault && s.peerReady():
		return release(RoleFault, s.sprintf("restart limit reached: releasing to healthy standby %s", s.peer))
	case o.PBXFault:
		return d.with(ActionNone, s.sprintf("restart limit reached, but %s is not a healthy standby (%s): keeping the VIP", s.peer, s.peerState()))
	case s.failed() && !s.peerReady():
		return restart(s.sprintf("%s, but %s is not a healthy standby (%s): keeping the VIP", what, s.peer, s.peerState()))
	case s.failed() && p.Mode == RestartFirst && o.LinkDown == "":
		var failedFor time.Duration
		if !o.FailedSince.IsZero() {
			failedFor = o.Now.Sub(o.FailedSince)
		}
		if failedFor >= p.RestartGrace {
			return release(RoleStandby, s.sprintf("service failed and restart_grace %s passed: releasing to healthy standby %s", p.RestartGrace, s.peer))
		}
		return restart(s.sprintf("service failed: restart_first, %s of restart_grace %s left before releasing to %s", (p.RestartGrace - failedFor).Round(time.Millisecond), p.RestartGrace, s.peer))
	case s.failed():
		return release(RoleStandby, s.sprintf("%s: moving the VIP to healthy standby %s first, the restart follows", what, s.peer))
	case o.VIP == VIPAbsent:
		return d.with(ActionRestoreVIP, "the VIP left this node's interface: putting it back and announcing it")
	}
	// A planned release (switchover, failback) also waits while no standby
	// streams from this node's database. The demotion's fast shutdown sends
	// every connected streaming standby the rest of the WAL before it
	// stops, so nothing acknowledged is lost; a standby whose WAL receiver
	// is not streaming can be within max_lag_bytes and still lack the last
	// writes, which its promotion would drop without a word. The unplanned
	// releases above do not wait: the service here has failed (or
	// restarts no longer help), and keeping the VIP on it is an outage now;
	// the standby's max_lag_bytes decides whether it may promote.
	if r, ok := s.request(); ok && r.Target != o.Node {
		switch {
		case !s.peerReady() || o.Peer.Health != probe.Healthy || r.Target != v.Node:
			return d.with(ActionNone, s.sprintf("switchover %d to %s waits: it is not a healthy eligible standby (%s)", r.ID, r.Target, s.peerState()))
		case o.NoStreamingStandby && !r.Force:
			return d.with(ActionNone, s.sprintf("switchover %d to %s waits: %s; --force moves anyway", r.ID, s.peer, noStreaming))
		case o.NoStreamingStandby:
			return release(RoleStandby, s.sprintf("switchover %d to %s, forced: releasing although %s", r.ID, s.peer, noStreaming))
		}
		return release(RoleStandby, s.sprintf("switchover %d to %s: releasing", r.ID, s.peer))
	}
	if why, ok := s.failback(&d); ok {
		return why
	}
	return d.with(ActionNone, "primary at epoch "+strconv.FormatUint(o.Epoch, 10)+"; "+s.peerState())
}

// failback decides on a failback to the preferred peer: due once the peer
// has been healthy for failback_delay since it came back; then it waits for
// the quiet window and for the active calls to end (up to failback_drain),
// and becomes a switchover request in this node's heartbeats, so that the
// preferred node, knowing it is the target, takes over the moment this one
// has released: a failback costs what a switchover costs.
func (s situation) failback(d *Decision) (Decision, bool) {
	o, p, v := s.o, s.p, s.o.Peer
	if p.Failback != FailbackAuto || p.PreferredNode == "" || p.PreferredNode == o.Node || p.PreferredNode != v.Node ||
		!s.peerReady() || v.Health != probe.Healthy || v.HealthySince.IsZero() {
		return *d, false
	}
	healthy := o.Now.Sub(v.HealthySince)
	if healthy < p.FailbackDelay {
		return d.with(ActionNone, s.sprintf("primary at epoch %d; failback to preferred node %s once it has been healthy for %s (%s so far)",
			o.Epoch, s.peer, p.FailbackDelay, healthy.Round(time.Second))), true
	}
	d.FailbackDue = true
	switch {
	case !p.FailbackWindow.Open(o.Now):
		return d.with(ActionNone, s.sprintf("failback to preferred node %s waits for its window %s", s.peer, p.FailbackWindow)), true
	case o.CallsCounted && o.ActiveCalls > 0 && (o.FailbackDueSince.IsZero() || o.Now.Sub(o.FailbackDueSince) < p.FailbackDrain):
		var due time.Duration
		if !o.FailbackDueSince.IsZero() {
			due = o.Now.Sub(o.FailbackDueSince)
		}
		return d.with(ActionNone, s.sprintf("failback to preferred node %s waits for %d active call(s) to end (%s of failback_drain %s left)",
			s.peer, o.ActiveCalls, (p.FailbackDrain-due).Round(time.Second), p.FailbackDrain)), true
	case o.NoStreamingStandby:
		return d.with(ActionNone, s.sprintf("failback to preferred node %s waits: %s", s.peer, noStreaming)), true
	}
	return d.with(ActionFailback, s.sprintf("failback to preferred node %s, healthy for %s: asking it to take over as in a switchover", s.peer, healthy.Round(time.Second))), true
}

// noStreaming says why a planned release waits for a streaming standby.
const noStreaming = "no standby is streaming from this node's database (writes it has not received would be lost)"
