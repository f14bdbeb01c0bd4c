package failover

import (
	"time"

	"github.com/pbxha/pbxha/probe"
)

func (s situation) secondary(d Decision) Decision {
	o, p := s.o, s.p
	v := o.Peer
	if o.Role == RoleInit && !v.Alive && o.Now.Sub(o.StartedAt) < p.InitDead {
		left := p.InitDead - o.Now.Sub(o.StartedAt)
		return d.with(ActionNone, s.sprintf("start-up: waiting to hear the peer (%s of init_dead %s left)", left.Round(time.Millisecond), p.InitDead))
	}
	d.Role = RoleStandby
	switch {
	case o.VIP == VIPHeld:
		return d.with(ActionDropVIP, "this node is not primary but holds the VIP: removing it")
	case o.PBXFault:
		d.Role = RoleFault
		return d.with(ActionNone, "restart limit reached: not eligible until the fault is cleared")
	case o.LinkDown != "" && o.Health != probe.HealthFailed:
		return d.with(ActionNone, s.sprintf("standby, tracked link %s without carrier: not eligible", o.LinkDown))
	case o.Health == probe.HealthFailed && o.DBOnlyFailed:
		return d.with(ActionNone, "standby, only its database failed: not restarting the PBX")
	case o.Health == probe.HealthFailed && p.NoRestart:
		return d.with(ActionNone, "standby, service failed; the PBX is not supervised: waiting for it to recover")
	case o.Health == probe.HealthFailed && o.RestartPending:
		return d.with(ActionNone, "standby, service failed; PBX restart under way")
	case o.Health == probe.HealthFailed:
		return d.with(ActionRestartPBX, "standby, service failed: restarting the PBX")
	case v.Alive && v.Role == RolePrimary:
		if r, ok := s.request(); ok && r.Target == o.Node {
			return d.with(ActionNone, s.sprintf("switchover %d: waiting for %s to release", r.ID, s.peer))
		}
		return d.with(ActionNone, "standby; "+s.peerState())
	}
	// No live primary: decide whether this node should be the one.
	var why string
	// designated: a switchover names this node and the peer, alive, knows
	// it — the peer will not take over, so the eligibility hold that keeps
	// two nodes from claiming at once is not needed.
	designated := false
	switch {
	case !v.Heard:
		why = s.sprintf("%s not heard within init_dead %s", s.peer, p.InitDead)
	case !v.Alive:
		why = s.sprintf("%s silent since %s", s.peer, stamp(v.LastHeard))
	case v.Role == RoleInit && !v.Eligible:
		why = s.sprintf("%s is starting and not eligible yet (health %s)", s.peer, v.Health)
	case !v.Eligible || !serves(v.Health):
		why = s.sprintf("%s released and is not eligible (%s, %s)", s.peer, v.Role, v.Health)
	default:
		// Both could serve: one rule both sides compute alike picks one.
		if r, ok := s.request(); ok && (r.Target == o.Node || r.Target == v.Node) {
			if r.Target != o.Node {
				return d.with(ActionNone, s.sprintf("switchover %d: %s is to take over", r.ID, s.peer))
			}
			why, designated = s.sprintf("switchover %d to this node", r.ID), true
		} else if !s.wins() {
			return d.with(ActionNone, s.sprintf("no primary; %s outranks this node and is eligible", s.peer))
		} else {
			why = s.sprintf("no primary; this node outranks %s", s.peer)
		}
	}
	silent := !v.Alive // never heard, or heard no more
	// holdRestart: the silent peer's last heartbeat said it was primary and
	// restarting its sidecar, within restart_hold, and (with the witness)
	// its host was not found gone.
	holdRestart := silent && v.Heard && v.Restarting && v.Role == RolePrimary && o.Now.Sub(v.LastHeard) < p.restartHold() &&
		!(p.Witness && o.Witness == WitnessAbsent)
	switch {
	case !serves(o.Health):
		return d.with(ActionNone, s.sprintf("%s, but this node is not eligible (health %s)", why, o.Health))
	case !s.tieBreakerReachable():
		return d.with(ActionNone, s.sprintf("%s, but no tie-breaker target reachable: not taking over", why))
	case s.since(o.TieBreakerAt) >= p.tieBreakerFresh():
		// Reachable lately, but a takeover needs an answer from after
		// the peer fell silent: the node asks for one at once.
		return d.with(ActionNone, s.sprintf("%s: taking over once a tie-breaker target answers again (last answer %s ago; a takeover needs one within %s)",
			why, round(s.since(o.TieBreakerAt)), p.tieBreakerFresh()))
	case s.isolated():
		// A fresh answer counts for dead_after/2, longer than
		// isolation_after at the defaults: right after an isolated
		// primary stepped down, it would take the service back at
		// once, from a peer still alive for a moment that takes over
		// itself soon.
		return d.with(ActionNone, s.sprintf("%s, but %s: not taking over", why, s.isolation()))
	case !o.SteppedDownAt.IsZero() && !o.ConfirmedAt.After(o.SteppedDownAt) && !o.TieBreakerAt.After(o.SteppedDownAt):
		return d.with(ActionNone, s.sprintf("%s, but this node stepped down as cut off at %s and has not been heard by %s nor reached a tie-breaker since: not taking over",
			why, stamp(o.SteppedDownAt), s.peer))
	case v.Alive && v.Version >= 2 && v.LastHeard.Sub(o.ConfirmedAt) >= 2*p.interval():
		// The peer does not hear this node: it would take this node for
		// dead and might take over too, or have just stepped down for it.
		return d.with(ActionNone, s.sprintf("%s, but %s does not hear this node: not taking over", why, s.peer))
	case !s.lagOK():
		unit, key := "WAL bytes", "max_lag_bytes"
		if p.LagTransactions {
			unit, key = "transactions", "max_lag_transactions"
		}
		return d.with(ActionNone, s.sprintf("%s, but %d %s behind %s (%s %d): not promoting without --force", why, s.lag(), unit, s.peer, key, p.MaxLagBytes))
	case !designated && (o.EligibleSince.IsZero() || o.Now.Sub(o.EligibleSince) < p.hold()):
		var heldFor time.Duration
		if !o.EligibleSince.IsZero() {
			heldFor = o.Now.Sub(o.EligibleSince)
		}
		return d.with(ActionNone, s.sprintf("%s, but eligible for only %s of %s: letting the peer hear it first", why, heldFor.Round(time.Millisecond), p.hold()))
	case holdRestart && p.Witness && (o.Witness == WitnessUnknown || !o.Now.Before(o.RetryAt[ActionWitness])):
		return d.with(ActionWitness, s.sprintf("%s, restarting its sidecar: asking whether its host still answers on the VIP", why))
	case holdRestart:
		// The primary's sidecar restarts keeping the role (an upgrade): its
		// VIP, database and PBX stay where they are, and no fence runs. A
		// host that died meanwhile is taken over from once the witness
		// finds the VIP unanswered, or after the hold.
		return d.with(ActionNone, s.sprintf("%s, but its sidecar is restarting with the role kept: holding for up to %s (%s left)",
			why, p.restartHold(), (p.restartHold()-o.Now.Sub(v.LastHeard)).Round(time.Millisecond)))
	case p.NeedFence && silent && (o.Fence == FenceUnknown || (o.Fence == FenceFailed && !o.Now.Before(o.RetryAt[ActionFencePeer]))):
		// Fencing is per silent-peer episode (the daemon resets the state
		// when the peer is heard), and a failed fence is tried again after
		// its retry delay.
		return d.with(ActionFencePeer, s.sprintf("%s: fencing %s before taking over", why, s.peer))
	case p.NeedFence && silent && o.Fence == FenceFailed:
		return d.with(ActionNone, s.sprintf("%s, but fencing %s failed: not taking over", why, s.peer))
	case silent && o.Fence != FenceOK && !v.BadMACAt.IsZero() && o.Now.Sub(v.BadMACAt) < p.deadAfter():
		// A key change gone wrong must not split the pair.
		return d.with(ActionNone, s.sprintf("%s, but heartbeats from %s's address fail the MAC: it lives with another key; not taking over (check peer.key_file and peer.next_key_file on both nodes)", why, s.peer))
	case silent && o.Fence != FenceOK && !o.HeartbeatLossAt.IsZero() && o.Now.Sub(o.HeartbeatLossAt) < p.deadAfter():
		// A flood of the heartbeat port faster than this node reads makes
		// the kernel drop real heartbeats with the forged ones: the silence
		// may be the flood's.
		return d.with(ActionNone, s.sprintf("%s, but this node's heartbeat sockets are dropping datagrams unread (a flood?): the silence may be theirs; not taking over", why))
	case silent && o.Fence != FenceOK:
		// Not fenced: the silent peer may only be cut off, and steps down
		// by itself; take over only once that has certainly happened.
		if wait := p.TakeoverWait(v.StepDown); v.Heard && o.Now.Sub(v.LastHeard) < wait {
			return d.with(ActionNone, s.sprintf("%s, silent for %s: taking over once %s have passed (a cut-off primary has stepped down by then: isolation_after %s, its step-down budget %s)",
				why, o.Now.Sub(v.LastHeard).Round(time.Millisecond), wait, p.IsolationAfter, v.StepDown))
		}
		if p.Witness {
			switch {
			case o.Witness == WitnessUnknown || (o.Witness == WitnessHeld && !o.Now.Before(o.RetryAt[ActionWitness])):
				return d.with(ActionWitness, s.sprintf("%s: asking whether another node still answers on the VIP", why))
			case o.Witness == WitnessHeld:
				return d.with(ActionNone, s.sprintf("%s, but another node still answers on the VIP: %s still serves, not taking over (check the heartbeat paths, or configure a fence command)", why, s.peer))
			}
		}
	}
	d.Role = RolePrimary
	d.NextEpoch = max(o.Epoch, v.Epoch) + 1
	d.Force = s.forced()
	return d.with(ActionTakeOver, s.sprintf("taking over at epoch %d: %s", d.NextEpoch, why))
}
