package coord

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// Decide chooses the next step for this node. It is pure: the same
// observation and policy always give the same decision.
//
// The rules, the first that applies wins. Until the cluster was read from
// etcd the node claims nothing (init). A leader steps down — database
// first, then the VIP — when its lease may be lost: once its newest
// renewal is so old that stepping down within the budget would end just
// before the lease can expire (Policy.StepDownAt), or at once when the
// leader key is no longer its own; maintenance does not stop this. Then
// maintenance on this node or on any live member freezes every other
// automatic action (a leader stays leader). A leader whose PBX is past its
// restart limit, whose tracked link is down or whose service failed hands
// over to a healthy eligible member (restart_first: after RestartGrace of
// local restarts) and otherwise keeps the service and restarts the PBX; a
// leader hands over for a switchover once the target (or, with none named
// and the request moving away from this node, the best other member) is
// healthy and eligible and, with a database, a
// standby streams from it (unless forced); it puts back a VIP that left
// its interface; with failback auto it asks for a switchover to a live
// member of higher priority eligible for FailbackDelay.
//
// A node that does not lead drops a VIP it finds on itself, turns fault
// past the PBX restart limit, restarts a failed PBX, follows a live
// leader, and when no leader holds the key takes it — only when it is
// eligible (serving, not fault, not in maintenance, priority above 0, its
// lease alive, a tie-breaker answering when configured, its database
// within max_lag_bytes of the last announced position unless allowed or
// forced) and it is the best candidate: the switchover's target, then the
// highest priority, then the least lag, then the lowest name; a node that
// is not the best takes the key anyway once the vacancy is older than the
// lease TTL (the best did not). A node that just started takes no vacant
// key for InitWait, so that nodes starting together see each other first. etcd grants the key to one node only, and
// only once the old leader's lease expired.
//
// Then the holds: while a move runs nothing else starts, except a step-down
// that interrupts a takeover; a restart runs beside moves; an action that
// failed a moment ago waits until RetryAt.
func Decide(o Observation, p Policy) Decision {
	s := situation{o: o, p: p}
	d := Decision{Role: o.Role}
	if !o.Synced {
		d.Role = failover.RoleInit
		return d.with(failover.ActionNone, "waiting for the first read of the cluster from etcd")
	}
	d.Eligible = s.eligible() == ""
	switch {
	case o.Role == failover.RolePrimary && s.stepDownReason() != "":
		d.Role = failover.RoleStandby
		d = d.with(failover.ActionStepDown, s.stepDownReason())
	case o.Local.Maintenance:
		if o.Role != failover.RolePrimary {
			d.Role = failover.RoleMaintenance
		}
		d = d.with(failover.ActionNone, "maintenance mode: automatic action frozen")
	case s.memberInMaintenance() != "":
		if o.Role == failover.RoleInit || o.Role == failover.RoleMaintenance {
			d.Role = failover.RoleStandby
		}
		d = d.with(failover.ActionNone, fmt.Sprintf("%s in maintenance mode: automatic action frozen", s.memberInMaintenance()))
	case o.Role == failover.RolePrimary:
		d = s.leader(d)
	default:
		d = s.follower(d)
	}
	return s.hold(d)
}

// situation is one observation with its policy, and the rules' helpers.
type situation struct {
	o Observation
	p Policy
}

func (d Decision) with(a failover.Action, reason string) Decision {
	d.Action, d.Reason = a, reason
	return d
}

// stepDownReason says why a leader must step down now, or "".
func (s situation) stepDownReason() string {
	o := s.o
	if !o.LeaderMine {
		if o.Leader != "" {
			return fmt.Sprintf("the leader key is held by %s, not this node: stepping down", o.Leader)
		}
		return "the leader key is gone (its lease expired or it was deleted): stepping down"
	}
	if o.SafeUntil.IsZero() {
		return "no etcd lease: stepping down"
	}
	if at := s.p.StepDownAt(o.SafeUntil); !o.Now.Before(at) {
		return fmt.Sprintf("etcd lease not renewed since %s: stepping down before it can expire (at %s at the earliest)",
			stamp(o.SafeUntil.Add(-s.p.LeaseTTL)), stamp(o.SafeUntil))
	}
	return ""
}

// memberInMaintenance names a live member in maintenance mode, or "".
func (s situation) memberInMaintenance() string {
	for _, m := range s.o.Members {
		if m.Maintenance {
			return m.Node
		}
	}
	return ""
}

// failed reports whether this node's service failed: a critical probe,
// or a tracked link without carrier.
func (s situation) failed() bool {
	return s.o.Local.Health == probe.HealthFailed || s.o.Local.LinkDown != ""
}

// forcedHere reports whether a forced switchover names this node.
func (s situation) forcedHere() bool {
	r := s.o.Switchover
	return r.Active() && r.Force && r.To == s.o.Node
}

// lagReason says why this node's database is too far behind the leader's
// last announced position to lead, or "".
func (s situation) lagReason() string {
	o, p := s.o, s.p
	if o.Local.DB == failover.DBNone || p.AllowLag || s.forcedHere() || o.Local.DB == failover.DBPrimary {
		return ""
	}
	if o.LeaderWAL == 0 {
		return "no leader ever announced a database position: a standby database does not lead without allow_lag"
	}
	if o.LeaderWAL > o.Local.WAL && o.LeaderWAL-o.Local.WAL > p.MaxLagBytes {
		unit, key := "bytes", "max_lag_bytes"
		if p.LagTransactions {
			unit, key = "transactions", "max_lag_transactions"
		}
		return fmt.Sprintf("database %d %s behind the last announced position (%s %d)", o.LeaderWAL-o.Local.WAL, unit, key, p.MaxLagBytes)
	}
	return ""
}

// eligible says why this node could not lead now, or "" when it could.
func (s situation) eligible() string {
	o, p := s.o, s.p
	switch {
	case o.Local.PBXFault:
		return "past the PBX restart limit (fault)"
	case o.Local.Maintenance:
		return "in maintenance mode"
	case o.Local.LinkDown != "":
		return fmt.Sprintf("tracked link %s without carrier", o.Local.LinkDown)
	case o.Local.Health != probe.Healthy && o.Local.Health != probe.HealthDegraded:
		return "service " + o.Local.Health.String()
	case o.Priority <= 0:
		return "priority 0: never leads"
	case o.SafeUntil.IsZero() || !o.Now.Before(p.StepDownAt(o.SafeUntil)):
		return noLease
	case p.TieBreakers && !o.Local.TieBreakerOK:
		return "no tie-breaker target answers"
	}
	return s.lagReason()
}

// noLease is why a node whose lease is not certainly alive is not eligible.
const noLease = "no live etcd lease"

// healthyMember reports whether m could take the lead for a planned move:
// eligible and healthy (not degraded).
func healthyMember(m Member) bool {
	return m.Eligible && m.Health == probe.Healthy && m.Priority > 0
}

// best returns the member that should lead after this leader, or false:
// the best-ranked healthy eligible member.
func (s situation) best() (Member, bool) {
	var c []Member
	for _, m := range s.o.Members {
		if healthyMember(m) {
			c = append(c, m)
		}
	}
	if len(c) == 0 {
		return Member{}, false
	}
	slices.SortFunc(c, rank)
	return c[0], true
}

// rank orders candidates: highest priority, then most WAL (least lag),
// then lowest name.
func rank(a, b Member) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.WAL, a.WAL); c != 0 {
		return c
	}
	return strings.Compare(a.Node, b.Node)
}

// leader decides for the node that holds the leader key and its lease.
func (s situation) leader(d Decision) Decision {
	o, p := s.o, s.p
	next, haveNext := s.best()
	switch {
	case o.Local.PBXFault:
		if haveNext {
			d.Role = failover.RoleFault
			return d.with(failover.ActionRelease, fmt.Sprintf("past the PBX restart limit: handing over (%s is ready)", next.Node))
		}
		return d.with(failover.ActionNone, "past the PBX restart limit, but no healthy eligible member: keeping the service")
	case s.failed():
		return s.leaderFailed(d, next, haveNext)
	}
	if r := o.Switchover; r.Active() && r.To != o.Node && !s.awayFromOther(r) {
		return s.switchover(d, r)
	}
	if o.Local.VIP == failover.VIPAbsent {
		return d.with(failover.ActionRestoreVIP, "the VIP left this leader's interface: putting it back")
	}
	if p.Failback == failover.FailbackAuto && haveNext && next.Priority > o.Priority && !next.EligibleSince.IsZero() {
		if since := o.Now.Sub(next.EligibleSince); since >= p.FailbackDelay {
			d.Target = next.Node
			return d.with(failover.ActionFailback, fmt.Sprintf("failback: %s has priority %d > %d and has been eligible for %s",
				next.Node, next.Priority, o.Priority, since.Round(time.Millisecond)))
		}
	}
	return d.with(failover.ActionNone, fmt.Sprintf("leader at epoch %d, lease safe until %s", o.Epoch, stamp(o.SafeUntil)))
}

// leaderFailed decides for a leader whose service failed.
func (s situation) leaderFailed(d Decision, next Member, haveNext bool) Decision {
	o, p := s.o, s.p
	what := "service failed"
	if o.Local.LinkDown != "" {
		what = fmt.Sprintf("tracked link %s lost carrier", o.Local.LinkDown)
	}
	restart := o.Local.LinkDown == "" && !p.NoRestart && !o.Local.DBOnlyFailed
	if !haveNext {
		if restart {
			return d.with(failover.ActionRestartPBX, what+", no healthy eligible member to hand over to: restarting the PBX")
		}
		return d.with(failover.ActionNone, what+", no healthy eligible member to hand over to: keeping the service")
	}
	if p.Mode == failover.RestartFirst && restart && !o.FailedSince.IsZero() && o.Now.Sub(o.FailedSince) < p.RestartGrace {
		return d.with(failover.ActionRestartPBX, fmt.Sprintf("%s: restart first (%s of restart_grace %s left)",
			what, (p.RestartGrace-o.Now.Sub(o.FailedSince)).Round(time.Millisecond), p.RestartGrace))
	}
	d.Role = failover.RoleStandby
	return d.with(failover.ActionRelease, fmt.Sprintf("%s: handing over (%s is ready)", what, next.Node))
}

// switchover decides for a leader asked to hand over.
func (s situation) switchover(d Decision, r Request) Decision {
	o := s.o
	var target Member
	found := false
	if r.To == "" {
		target, found = s.best()
	} else {
		for _, m := range o.Members {
			if m.Node == r.To {
				target, found = m, true
			}
		}
	}
	to := cmp.Or(r.To, "the best other member")
	switch {
	case !found:
		return d.with(failover.ActionNone, fmt.Sprintf("switchover to %s waits: not a live member", to))
	case !healthyMember(target) && !(r.Force && target.Priority > 0 && target.Health == probe.Healthy):
		return d.with(failover.ActionNone, fmt.Sprintf("switchover to %s waits: it is not a healthy eligible member", target.Node))
	case o.Local.DB == failover.DBPrimary && o.Local.NoStreamingStandby && !r.Force:
		return d.with(failover.ActionNone, fmt.Sprintf("switchover to %s waits: no standby is streaming from this node's database (--force releases anyway)", target.Node))
	}
	d.Role = failover.RoleStandby
	return d.with(failover.ActionRelease, fmt.Sprintf("switchover to %s: releasing", target.Node))
}

// follower decides for a node that does not lead.
func (s situation) follower(d Decision) Decision {
	o, p := s.o, s.p
	if o.Role == failover.RoleInit || o.Role == failover.RoleMaintenance {
		d.Role = failover.RoleStandby
	}
	switch {
	case o.Local.VIP == failover.VIPHeld:
		return d.with(failover.ActionDropVIP, "this node is not the leader but holds the VIP: removing it")
	case o.Local.PBXFault:
		d.Role = failover.RoleFault
		if o.LeaderMine {
			return d.with(failover.ActionRelease, "past the PBX restart limit: giving up the leader key")
		}
		return d.with(failover.ActionNone, "past the PBX restart limit: not eligible")
	case o.Local.LinkDown != "":
		return d.with(failover.ActionNone, fmt.Sprintf("tracked link %s without carrier: not eligible", o.Local.LinkDown))
	case s.failed() && !o.Local.DBOnlyFailed && !p.NoRestart:
		return d.with(failover.ActionRestartPBX, "service failed: restarting the PBX")
	}
	why := s.eligible()
	if o.LeaderMine {
		// The key survived a step-down (etcd regained quorum and renewed
		// the lease): lead again, or let it go.
		if why == "" {
			d.Role = failover.RolePrimary
			return d.with(failover.ActionTakeOver, "the leader key is still this node's: taking the service back")
		}
		if why == noLease {
			return d.with(failover.ActionNone, "the leader key may still be this node's, but etcd does not renew its lease: waiting")
		}
		return d.with(failover.ActionRelease, "the leader key is still this node's, but this node is not eligible ("+why+"): giving it up")
	}
	if o.Leader != "" {
		return d.with(failover.ActionNone, fmt.Sprintf("following leader %s at epoch %d", o.Leader, o.Epoch))
	}
	if why != "" {
		return d.with(failover.ActionNone, "no leader; this node is not eligible: "+why)
	}
	if left := o.StartedAt.Add(p.initWait()).Sub(o.Now); left > 0 {
		return d.with(failover.ActionNone, fmt.Sprintf("no leader; starting: waiting %s for the other members to show", left.Round(time.Millisecond)))
	}
	if r := o.Switchover; r.Active() && r.To != "" && r.To != o.Node {
		for _, m := range o.Members {
			if m.Node == r.To && m.Eligible && !s.vacancyOver() {
				return d.with(failover.ActionNone, fmt.Sprintf("no leader; switchover: %s is to lead", r.To))
			}
		}
	}
	if s.movingAway(o.Node) && !s.vacancyOver() {
		return d.with(failover.ActionNone, "no leader; switchover away from this node: another member is to lead")
	}
	if r := o.Switchover; !(r.Active() && r.To == o.Node) {
		if m, ok := s.better(); ok && !s.vacancyOver() {
			return d.with(failover.ActionNone, fmt.Sprintf("no leader; %s is better placed (priority %d, position %d): waiting for it", m.Node, m.Priority, m.WAL))
		}
	}
	d.Role = failover.RolePrimary
	d.Force = s.forcedHere()
	reason := fmt.Sprintf("no leader since %s: taking the leader key at epoch %d", stamp(o.NoLeaderSince), o.Epoch+1)
	if r := o.Switchover; r.Active() && r.To == o.Node {
		reason = fmt.Sprintf("switchover to this node: taking the leader key at epoch %d", o.Epoch+1)
	}
	return d.with(failover.ActionTakeOver, reason)
}

// awayFromOther reports whether r, a switchover without a target, moves
// the service away from another node than this one: once this node leads
// it is done. (The request is deleted once its new leader took over, but
// that leader may decide before the watch brings it the deletion; it
// must not hand over again for the same request.)
func (s situation) awayFromOther(r Request) bool {
	return r.To == "" && r.Away != "" && r.Away != s.o.Node
}

// movingAway reports whether a switchover without a target moves the
// service away from node (it led when the request was made).
func (s situation) movingAway(node string) bool {
	r := s.o.Switchover
	return r.Active() && r.To == "" && r.Away != "" && r.Away == node
}

// better returns an eligible member ranked above this node, or false; the
// node a switchover moves away from is not waited for.
func (s situation) better() (Member, bool) {
	self := Member{Node: s.o.Node, Priority: s.o.Priority, WAL: s.o.Local.WAL}
	for _, m := range s.o.Members {
		if m.Eligible && m.Priority > 0 && rank(m, self) < 0 && !s.movingAway(m.Node) {
			return m, true
		}
	}
	return Member{}, false
}

// vacancyOver reports whether the leader key has been free for longer
// than the lease TTL, counted from the end of this node's InitWait: the
// better-placed candidates had their chance.
func (s situation) vacancyOver() bool {
	if s.o.NoLeaderSince.IsZero() {
		return false
	}
	from := s.o.NoLeaderSince
	if w := s.o.StartedAt.Add(s.p.initWait()); w.After(from) {
		from = w
	}
	return s.o.Now.Sub(from) > s.p.LeaseTTL
}

// hold keeps a chosen action from starting now: a move under way (only a
// step-down may interrupt a takeover), a restart under way, a retry delay.
func (s situation) hold(d Decision) Decision {
	o := s.o
	if d.Action == failover.ActionNone {
		return d
	}
	keep := func(why string) Decision {
		d.Role = o.Role
		if o.Role == failover.RoleInit {
			d.Role = failover.RoleStandby
		}
		return d.with(failover.ActionNone, why)
	}
	if o.Busy != failover.ActionNone {
		if d.Action == failover.ActionStepDown && o.Busy == failover.ActionTakeOver {
			return d // the runtime cancels the takeover first
		}
		return keep(fmt.Sprintf("%s under way; next: %s (%s)", o.Busy, d.Action, d.Reason))
	}
	if d.Action == failover.ActionRestartPBX && o.AuxBusy != failover.ActionNone {
		return keep(fmt.Sprintf("%s under way (%s)", o.AuxBusy, d.Reason))
	}
	if at, ok := o.RetryAt[d.Action]; ok && o.Now.Before(at) {
		return keep(fmt.Sprintf("%s failed a moment ago; again in %s (%s)", d.Action, at.Sub(o.Now).Round(time.Millisecond), d.Reason))
	}
	return d
}

// stamp formats a time for reasons: UTC to the millisecond.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "start-up"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
