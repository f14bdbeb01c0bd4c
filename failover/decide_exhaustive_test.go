package failover

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

var (
	allRoles  = []Role{RoleInit, RolePrimary, RoleStandby, RoleFault, RoleMaintenance}
	allHealth = []probe.Health{probe.HealthUnknown, probe.Healthy, probe.HealthDegraded, probe.HealthFailed}
	bools     = []bool{false, true}
)

// modifiers are the inputs varied around the core local and peer states. The
// core product is exhaustive; each core point is combined with one modifier
// set chosen by a stride through the modifier product, and every modifier set
// meets every epoch relation and peer liveness (see TestDecideModifiers).
type modifiers struct {
	needFence   bool
	fence       FenceState
	switchover  int // 0 none, 1 local to self, 2 local to peer, 3 peer's to self forced, 4 peer's to peer forced
	restartMode Mode
	failedFor   time.Duration
	pending     bool
	initPassed  bool
	preferred   int // 0 none, 1 self, 2 peer
	allowLag    bool
	failback    Failback
	eligibleFor time.Duration // -1: not eligible before
	noRestart   int           // 0: restarts allowed; 1: Policy.NoRestart; 2: Observation.DBOnlyFailed (when failed)
	noStreaming bool          // a primary's database has no streaming standby
}

func allModifiers() []modifiers {
	var ms []modifiers
	for _, nf := range bools {
		for _, f := range []FenceState{FenceUnknown, FenceOK, FenceFailed} {
			for sw := range 5 {
				for _, mode := range []Mode{FailoverFirst, RestartFirst} {
					for _, ff := range []time.Duration{0, 2 * time.Second, 20 * time.Second} {
						for _, pend := range bools {
							for _, ip := range bools {
								for pref := range 3 {
									for _, al := range bools {
										for _, fb := range []Failback{FailbackOff, FailbackAuto} {
											for _, ef := range []time.Duration{-1, time.Second, time.Hour} {
												for nr := range 3 {
													for _, ns := range bools {
														ms = append(ms, modifiers{nf, f, sw, mode, ff, pend, ip, pref, al, fb, ef, nr, ns})
													}
												}
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return ms
}

// holdState is the hold inputs (an action running, a retry delay, the last
// re-announcement), rotated through the core product rather than multiplied
// into it: they only ever keep an action from starting.
type holdState struct {
	busy, aux Action
	retry     Action // an action that failed a moment ago (ActionNone: none)
	announced bool   // the VIP was re-announced a moment ago
}

var allHolds = []holdState{
	{}, {busy: ActionTakeOver}, {busy: ActionRelease}, {aux: ActionFencePeer}, {aux: ActionRestartPBX},
	{busy: ActionStepDown}, {aux: ActionWitness}, {busy: ActionRestoreVIP},
	{retry: ActionTakeOver}, {retry: ActionRelease}, {retry: ActionRestartPBX}, {retry: ActionFencePeer},
	{retry: ActionStepDown}, {retry: ActionWitness},
	{announced: true},
}

// extraState is the inputs of isolation, the VIP witness, VIP and link
// tracking and the failback drain, rotated through the product like
// holdState.
type extraState struct {
	unconfirmed bool // the peer has not heard this node for a second
	tbRecent    bool // a tie-breaker answered 300ms ago, not recent enough to count as reachable
	tbStale     bool // a tie-breaker answered 450ms ago: past isolation_after, though within dead_after/2 (TieBreakerOK as tb says)
	witnessOn   bool // Policy.Witness
	witness     WitnessState
	vip         VIPState
	link        bool // a tracked link is down
	calls       bool // three calls, counted, failback due for a minute
	badMAC      bool // a packet from the peer's address failed the MAC a moment ago
	loss        bool // the heartbeat sockets lost datagrams unread a moment ago (a flood)
	window      bool // a failback window that is closed now
	steppedDown bool // this node stepped down as cut off 100ms ago, unheard since
	restarting  bool // the peer's last heartbeat said its sidecar restarts keeping the role
}

var allExtras = []extraState{
	{}, {unconfirmed: true}, {tbRecent: true}, {unconfirmed: true, tbRecent: true}, {unconfirmed: true, tbStale: true},
	{witnessOn: true}, {witnessOn: true, witness: WitnessHeld}, {witnessOn: true, witness: WitnessAbsent},
	{vip: VIPAbsent}, {vip: VIPHeld}, {link: true}, {calls: true}, {window: true}, {unconfirmed: true, vip: VIPAbsent},
	{badMAC: true}, {loss: true}, {steppedDown: true}, {restarting: true}, {restarting: true, witnessOn: true, witness: WitnessHeld},
}

// with adds e to o and p.
func (e extraState) with(o Observation, p Policy) (Observation, Policy) {
	if e.unconfirmed {
		o.ConfirmedAt = o.Now.Add(-time.Second)
	}
	if e.tbRecent {
		o.TieBreakerAt = o.Now.Add(-300 * time.Millisecond)
	}
	if e.tbStale {
		o.TieBreakerAt = o.Now.Add(-450 * time.Millisecond)
	}
	p.Witness, o.Witness, o.VIP = e.witnessOn, e.witness, e.vip
	if e.link {
		o.LinkDown = "eth1"
	}
	if e.calls {
		o.ActiveCalls, o.CallsCounted, o.FailbackDueSince = 3, true, o.Now.Add(-time.Minute)
	}
	if e.window {
		p.FailbackWindow = Window{From: time.Hour, To: 5 * time.Hour}
	}
	if e.badMAC {
		o.Peer.BadMACAt = o.Now.Add(-200 * time.Millisecond)
	}
	if e.loss {
		o.HeartbeatLossAt = o.Now.Add(-200 * time.Millisecond)
	}
	if e.steppedDown {
		o.SteppedDownAt = o.Now.Add(-100 * time.Millisecond)
		if !o.ConfirmedAt.Before(o.SteppedDownAt) {
			o.ConfirmedAt = o.SteppedDownAt.Add(-time.Second)
		}
		o.TieBreakerAt = o.SteppedDownAt.Add(-time.Second)
	}
	o.Peer.Restarting = e.restarting
	return o, p
}

// with adds h to o.
func (h holdState) with(o Observation) Observation {
	o.Busy, o.AuxBusy = h.busy, h.aux
	if h.retry != ActionNone {
		o.RetryAt = map[Action]time.Time{h.retry: o.Now.Add(time.Second)}
	}
	if h.announced {
		o.LastAnnounce = o.Now.Add(-100 * time.Millisecond)
	}
	return o
}

// build assembles one observation and policy from the discretised inputs.
func build(role Role, health probe.Health, fault, maint, tb bool, epoch, peerEpoch uint64, behind bool,
	peerState int, pRole Role, pHealth probe.Health, pMaint, pElig bool, m modifiers) (Observation, Policy) {
	now := decideT0
	o := Observation{
		Now: now, Node: "node-b", Role: role, Epoch: epoch, Health: health, PBXFault: fault,
		Maintenance: maint, TieBreakerOK: tb, DB: DBStandby, WAL: 1 << 30,
		StartedAt: now.Add(-time.Second), Fence: m.fence, RestartPending: m.pending,
	}
	if role == RolePrimary && m.noStreaming { // only a primary database has standbys
		o.DB, o.NoStreamingStandby = DBPrimary, true
	}
	if m.initPassed {
		o.StartedAt = now.Add(-time.Hour)
	}
	o.TieBreakerAt = now.Add(-2 * time.Second)
	if tb {
		o.TieBreakerAt = now.Add(-50 * time.Millisecond)
	}
	if m.eligibleFor >= 0 {
		o.EligibleSince = now.Add(-m.eligibleFor)
	}
	if health == probe.HealthFailed && m.failedFor > 0 {
		o.FailedSince = now.Add(-m.failedFor)
	}
	if peerState > 0 { // 0 never heard, 1 dead, 2 alive
		o.Peer = PeerView{
			Heard: true, Alive: peerState == 2, Node: "node-a", Role: pRole, Epoch: peerEpoch, Health: pHealth,
			Maintenance: pMaint, Eligible: pElig, DB: DBPrimary, WAL: 1 << 30,
			LastHeard: now.Add(-2 * time.Second), HealthySince: now.Add(-time.Hour),
		}
		if behind {
			o.Peer.WAL += 3 << 20
		}
		o.Peer.Version, o.Peer.StepDown = Version, DefaultStepDown
		o.ConfirmedAt = now.Add(-2 * time.Second)
		if o.Peer.Alive {
			o.Peer.LastHeard = now.Add(-100 * time.Millisecond)
			o.ConfirmedAt = now.Add(-150 * time.Millisecond)
		}
	}
	switch m.switchover {
	case 1:
		o.Switchover = SwitchoverRequest{Target: "node-b", ID: 1}
	case 2:
		o.Switchover = SwitchoverRequest{Target: "node-a", ID: 2}
	case 3:
		o.Peer.Switchover = SwitchoverRequest{Target: "node-b", ID: 3, Force: true}
	case 4:
		o.Peer.Switchover = SwitchoverRequest{Target: "node-a", ID: 4, Force: true}
	}
	p := DefaultPolicy()
	p.NeedFence, p.Mode, p.AllowLagPromote, p.Failback, p.NoRestart = m.needFence, m.restartMode, m.allowLag, m.failback, m.noRestart == 1
	o.DBOnlyFailed = m.noRestart == 2 && o.Health == probe.HealthFailed
	p.PreferredNode = [...]string{"", "node-b", "node-a"}[m.preferred]
	return o, p
}

// checkInvariants asserts the safety rules on one decision.
func checkInvariants(o Observation, p Policy, d Decision) error {
	v := o.Peer
	frozen := o.Maintenance || (v.Alive && v.Maintenance)
	s := situation{o: o, p: p}
	switch {
	case d.Reason == "" || strings.ContainsAny(d.Reason, "\r\n"):
		return fmt.Errorf("reason %q is not one line", d.Reason)
	case frozen && d.Action != ActionNone && d.Action != ActionStepDown:
		return fmt.Errorf("%s during maintenance", d.Action)
	case d.NextEpoch < o.Epoch:
		return fmt.Errorf("epoch went down from %d to %d", o.Epoch, d.NextEpoch)
	case d.Action == ActionRestartPBX && p.NoRestart:
		return fmt.Errorf("restart_pbx with an unsupervised PBX")
	case d.Action == ActionRestartPBX && o.DBOnlyFailed:
		return fmt.Errorf("restart_pbx when only the database failed")
	case d.Eligible && (!serves(o.Health) || o.PBXFault || o.Maintenance || !o.TieBreakerOK):
		return fmt.Errorf("eligible while health %s fault %v maintenance %v tie-breaker %v", o.Health, o.PBXFault, o.Maintenance, o.TieBreakerOK)
	case o.Busy != ActionNone && (d.Action != ActionNone || d.Role != o.Role):
		return fmt.Errorf("%s to role %s while %s runs", d.Action, d.Role, o.Busy)
	case d.Action != ActionNone && d.Action != ActionFencePeer && d.Action != ActionWitness && o.Now.Before(o.RetryAt[d.Action]):
		return fmt.Errorf("%s before its retry delay ended", d.Action)
	case d.Action == ActionFencePeer && o.Fence != FenceUnknown && !(o.Fence == FenceFailed && !o.Now.Before(o.RetryAt[ActionFencePeer])):
		return fmt.Errorf("fence with fence state %s before its retry delay ended", o.Fence)
	case d.Action == ActionWitness && o.Witness != WitnessUnknown && !(o.Witness == WitnessHeld && !o.Now.Before(o.RetryAt[ActionWitness])):
		return fmt.Errorf("witness with state %s before its retry delay ended", o.Witness)
	case d.Action == ActionReAnnounce && o.Now.Sub(o.LastAnnounce) < ReAnnounceEvery:
		return fmt.Errorf("re_announce %s after the last one", o.Now.Sub(o.LastAnnounce))
	case d.Action == ActionRelease && d.NextEpoch != o.Epoch:
		return fmt.Errorf("release changed the epoch %d to %d", o.Epoch, d.NextEpoch)
	case d.Force && (d.Action != ActionTakeOver || !s.forced()):
		return fmt.Errorf("force on %s without a forced switchover to this node", d.Action)
	case o.Role == RolePrimary && p.IsolationAfter > 0 && s.since(o.ConfirmedAt) >= p.IsolationAfter &&
		s.since(o.TieBreakerAt) >= p.IsolationAfter && o.Busy == ActionNone && d.Action != ActionStepDown &&
		!o.Now.Before(o.RetryAt[ActionStepDown]):
		// The safety rule of isolation: no node stays primary longer than
		// isolation_after unheard by its peer and by every tie-breaker.
		return fmt.Errorf("isolated primary did %s, not step_down", d.Action)
	case (d.Action == ActionTakeOver || d.Action == ActionFencePeer) && !o.SteppedDownAt.IsZero() &&
		!o.ConfirmedAt.After(o.SteppedDownAt) && !o.TieBreakerAt.After(o.SteppedDownAt):
		return fmt.Errorf("%s by a node that stepped down as cut off and was heard by nobody since", d.Action)
	case (d.Action == ActionTakeOver || d.Action == ActionFencePeer) && !v.Alive && v.Restarting && v.Role == RolePrimary &&
		o.Now.Sub(v.LastHeard) < p.restartHold() && !(p.Witness && o.Witness == WitnessAbsent):
		return fmt.Errorf("%s from a primary restarting with its role kept, within restart_hold", d.Action)
	case d.Action == ActionTakeOver && s.isolated():
		// Nor does an isolated node become primary: it may just have
		// stepped down, and the peer that does not hear it takes over.
		return fmt.Errorf("took over while isolated: unheard by the peer for %s, no tie-breaker for %s", s.since(o.ConfirmedAt), s.since(o.TieBreakerAt))
	case d.Action == ActionStepDown && (o.Role != RolePrimary || !stepsDown(s)):
		return fmt.Errorf("step_down by a %s that is neither isolated nor unheard", o.Role)
	case d.Eligible && o.LinkDown != "":
		return fmt.Errorf("eligible with tracked link %s down", o.LinkDown)
	case d.Action == ActionRestoreVIP && (o.Role != RolePrimary || o.VIP != VIPAbsent):
		return fmt.Errorf("restore_vip by a %s with the VIP %s", o.Role, o.VIP)
	case d.Action == ActionDropVIP && (o.Role == RolePrimary || o.VIP != VIPHeld):
		return fmt.Errorf("drop_vip by a %s with the VIP %s", o.Role, o.VIP)
	case d.Action == ActionFailback && (o.Role != RolePrimary || !s.peerReady() || v.Node != p.PreferredNode ||
		!p.FailbackWindow.Open(o.Now) || (o.CallsCounted && o.ActiveCalls > 0 && o.Now.Sub(o.FailbackDueSince) < p.FailbackDrain)):
		return fmt.Errorf("failback outside its conditions")
	case d.Action == ActionTakeOver && !v.Alive && v.Heard && o.Fence != FenceOK && o.Now.Sub(v.LastHeard) < p.TakeoverWait(v.StepDown):
		return fmt.Errorf("took over %s after the peer fell silent, before a cut-off primary has surely stepped down (%s)", o.Now.Sub(v.LastHeard), p.TakeoverWait(v.StepDown))
	case d.Action == ActionTakeOver && !v.Alive && o.Fence != FenceOK && !v.BadMACAt.IsZero() && o.Now.Sub(v.BadMACAt) < p.deadAfter():
		return fmt.Errorf("took over from a silent peer that speaks with another key")
	case d.Action == ActionTakeOver && !v.Alive && o.Fence != FenceOK && !o.HeartbeatLossAt.IsZero() && o.Now.Sub(o.HeartbeatLossAt) < p.deadAfter():
		return fmt.Errorf("took over from a silent peer while the heartbeat sockets lost datagrams unread")
	case d.Action == ActionTakeOver && !v.Alive && p.Witness && o.Fence != FenceOK && o.Witness != WitnessAbsent:
		return fmt.Errorf("took over from a silent peer with the witness %s", o.Witness)
	}
	if (d.Role == RolePrimary) != (o.Role == RolePrimary) {
		switch {
		case d.Role == RolePrimary && d.Action != ActionTakeOver:
			return fmt.Errorf("became primary through %s", d.Action)
		case o.Role == RolePrimary && d.Action != ActionRelease && d.Action != ActionStepDown:
			return fmt.Errorf("stopped being primary through %s", d.Action)
		}
	}
	switch d.Action {
	case ActionTakeOver:
		switch {
		case o.Role == RolePrimary:
			return fmt.Errorf("take over while primary")
		case d.Role != RolePrimary:
			return fmt.Errorf("take over to role %s", d.Role)
		case o.Health == probe.HealthFailed || o.Health == probe.HealthUnknown || o.PBXFault:
			return fmt.Errorf("take over while locally %s, fault %v", o.Health, o.PBXFault)
		case !o.TieBreakerOK:
			return fmt.Errorf("take over without a tie-breaker")
		case s.lag() > p.MaxLagBytes && !p.AllowLagPromote && !s.forced():
			return fmt.Errorf("promoted %d bytes behind without force", s.lag())
		case d.NextEpoch <= o.Epoch || d.NextEpoch <= v.Epoch:
			return fmt.Errorf("take over at epoch %d, not above ours %d and the peer's %d", d.NextEpoch, o.Epoch, v.Epoch)
		case v.Alive && v.Role == RolePrimary:
			return fmt.Errorf("take over from a live primary")
		case p.NeedFence && !v.Alive && o.Fence != FenceOK:
			return fmt.Errorf("take over from a silent peer with fence %s", o.Fence)
		case !designated(s) && (o.EligibleSince.IsZero() || o.Now.Sub(o.EligibleSince) < 2*p.DeadAfter):
			// Only a switchover to this node that the live peer knows of
			// waives the hold: the peer then does not take over itself.
			return fmt.Errorf("take over after being eligible only since %v", o.EligibleSince)
		}
	case ActionRelease:
		splitBrain := v.Alive && v.Role == RolePrimary
		switch {
		case o.Role != RolePrimary:
			return fmt.Errorf("release while %s", o.Role)
		case splitBrain && v.Epoch < o.Epoch:
			return fmt.Errorf("higher epoch %d released to %d", o.Epoch, v.Epoch)
		case !splitBrain && !s.peerReady():
			return fmt.Errorf("released with no healthy eligible standby")
		case o.NoStreamingStandby && !splitBrain && o.Health != probe.HealthFailed && o.LinkDown == "" && !o.PBXFault && !forcedAway(s):
			// A planned release (switchover, failback) would lose the
			// writes the standby has not received.
			return fmt.Errorf("planned release while no standby streams from this node's database")
		}
	default:
		held := o.Busy != ActionNone || o.Now.Before(o.RetryAt[ActionRelease]) || o.Now.Before(o.RetryAt[ActionStepDown]) // it releases once the hold ends
		if o.Role == RolePrimary && v.Alive && v.Role == RolePrimary && !frozen && !held && v.Epoch > o.Epoch && d.Action != ActionStepDown {
			return fmt.Errorf("lower epoch %d met primary at %d and did %s", o.Epoch, v.Epoch, d.Action)
		}
		if d.Role == RolePrimary && d.NextEpoch != o.Epoch {
			return fmt.Errorf("primary changed its epoch %d to %d without taking over", o.Epoch, d.NextEpoch)
		}
	}
	return nil
}

// stepsDown reports whether s's primary must step down.
func stepsDown(s situation) bool { _, ok := s.stepDown(); return ok }

// checkQuiet checks that a decision without a reason (NextDeadline's) does
// exactly what d, the decision with one, does.
func checkQuiet(o Observation, p Policy, d Decision) error {
	q := decide(o, p, false)
	if q.Reason != "" && d.Reason == "" {
		return fmt.Errorf("quiet decision has a reason %q", q.Reason)
	}
	q.Reason = d.Reason
	if q != d {
		return fmt.Errorf("quiet decision %+v differs from %+v", q, d)
	}
	return nil
}

func TestDecideExhaustive(t *testing.T) {
	mods := allModifiers()
	epochs := [][2]uint64{{1, 1}, {1, 2}, {2, 1}}
	n, mi := 0, 0
	for _, role := range allRoles {
		for _, h := range allHealth {
			for _, fault := range bools {
				for _, maint := range bools {
					for _, tb := range bools {
						for _, ep := range epochs {
							for _, behind := range bools {
								for ps := range 3 {
									for _, pr := range allRoles {
										for _, ph := range allHealth {
											for _, pm := range bools {
												for _, pe := range bools {
													if ps == 0 && (pr != RoleInit || ph != probe.HealthUnknown || pm || pe) {
														continue // a peer never heard has no view
													}
													mi = (mi + 7919) % len(mods) // a prime stride visits every modifier set
													o, p := build(role, h, fault, maint, tb, ep[0], ep[1], behind, ps, pr, ph, pm, pe, mods[mi])
													o = allHolds[n%len(allHolds)].with(o)
													o, p = allExtras[(n/len(allHolds))%len(allExtras)].with(o, p)
													d := Decide(o, p)
													n++
													if err := checkQuiet(o, p, d); err != nil {
														t.Fatalf("%v\nobservation %+v\npolicy %+v", err, o, p)
													}
													if err := checkInvariants(o, p, d); err != nil {
														t.Fatalf("%v\nobservation %+v\npolicy %+v\ndecision %+v", err, o, p, d)
													}
												}
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d observations", n)
}

// TestDecideModifiers crosses every modifier set with the states where they
// matter most: a standby whose peer is dead or released, and a failed primary.
// The epoch relation and WAL lag rotate with the modifier index (the core
// product covers them exhaustively). With -short it checks every seventh
// modifier set.
func TestDecideModifiers(t *testing.T) {
	n := 0
	mods := allModifiers()
	stride := 1
	if testing.Short() {
		stride = 7
	}
	for i := 0; i < len(mods); i += stride {
		m := mods[i]
		for _, role := range []Role{RoleInit, RoleStandby, RolePrimary} {
			if m.noStreaming && role != RolePrimary {
				continue // build sets it on a primary only: the same as without
			}
			for _, ps := range []int{0, 1, 2} {
				for _, pr := range []Role{RolePrimary, RoleStandby} {
					if ps == 0 && pr != RolePrimary {
						continue // a peer never heard has no role
					}
					for _, ep := range [][][2]uint64{{{1, 1}}, {{1, 2}}, {{2, 1}}}[i%3] {
						for _, behind := range []bool{i%2 == 0} {
							for _, h := range []probe.Health{probe.Healthy, probe.HealthFailed} {
								o, p := build(role, h, false, false, true, ep[0], ep[1], behind, ps, pr, probe.Healthy, false, true, m)
								o = allHolds[(i+n)%len(allHolds)].with(o)
								o, p = allExtras[(i+n/len(allHolds))%len(allExtras)].with(o, p)
								d := Decide(o, p)
								n++
								if err := checkQuiet(o, p, d); err != nil {
									t.Fatalf("%v\nobservation %+v\npolicy %+v", err, o, p)
								}
								if err := checkInvariants(o, p, d); err != nil {
									t.Fatalf("%v\nobservation %+v\npolicy %+v\ndecision %+v", err, o, p, d)
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d observations", n)
}

// nodeState is one node's own inputs in the two-node check.
type nodeState struct {
	role    Role
	health  probe.Health
	fault   bool
	tb      bool
	epoch   uint64
	request SwitchoverRequest
}

// observe builds what self observes when it hears other's current state
// without loss or delay.
func observe(selfName, otherName string, self, other nodeState, otherEligible bool) Observation {
	now := decideT0
	tbAt := now.Add(-time.Hour)
	if self.tb {
		tbAt = now
	}
	return Observation{
		Now: now, Node: selfName, Role: self.role, Epoch: self.epoch, Health: self.health, PBXFault: self.fault,
		TieBreakerOK: self.tb, StartedAt: now.Add(-time.Hour), DB: DBStandby, WAL: 1 << 30, Switchover: self.request,
		EligibleSince: now.Add(-time.Hour), ConfirmedAt: now, TieBreakerAt: tbAt,
		Peer: PeerView{
			Heard: true, Alive: true, Node: otherName, Role: other.role, Epoch: other.epoch, Health: other.health,
			Eligible: otherEligible, DB: DBStandby, WAL: 1 << 30, Switchover: other.request,
			LastHeard: now, HealthySince: now.Add(-time.Hour),
		},
	}
}

// TestDecideTwoNodes runs both nodes' decisions on consistent views of each
// other: never do both take over, two primaries always leave exactly one, and
// the one that stays has the higher epoch.
func TestDecideTwoNodes(t *testing.T) {
	var states []nodeState
	for _, r := range []Role{RoleInit, RolePrimary, RoleStandby, RoleFault} {
		for _, h := range allHealth {
			for _, f := range bools {
				for _, tb := range bools {
					for _, e := range []uint64{1, 2} {
						states = append(states, nodeState{role: r, health: h, fault: f, tb: tb, epoch: e})
					}
				}
			}
		}
	}
	requests := []struct{ a, b SwitchoverRequest }{
		{},
		{a: SwitchoverRequest{Target: "node-b", ID: 1}},
		{b: SwitchoverRequest{Target: "node-b", ID: 2}},
		{a: SwitchoverRequest{Target: "node-a", ID: 3}},
	}
	n := 0
	for _, pref := range []string{"", "node-a", "node-b"} {
		p := DefaultPolicy()
		p.PreferredNode = pref
		for _, rq := range requests {
			for _, a := range states {
				for _, b := range states {
					a.request, b.request = rq.a, rq.b
					// Eligibility does not depend on the peer's flag: compute it first.
					ea := Decide(observe("node-a", "node-b", a, b, false), p).Eligible
					eb := Decide(observe("node-b", "node-a", b, a, false), p).Eligible
					oa, ob := observe("node-a", "node-b", a, b, eb), observe("node-b", "node-a", b, a, ea)
					da, db := Decide(oa, p), Decide(ob, p)
					n++
					fail := func(msg string) {
						t.Fatalf("%s (preferred %q)\nnode-a %+v → %s %s %q\nnode-b %+v → %s %s %q", msg, pref, a, da.Action, da.Role, da.Reason, b, db.Action, db.Role, db.Reason)
					}
					if err := checkInvariants(oa, p, da); err != nil {
						fail("node-a: " + err.Error())
					}
					if err := checkInvariants(ob, p, db); err != nil {
						fail("node-b: " + err.Error())
					}
					if da.Action == ActionTakeOver && db.Action == ActionTakeOver {
						fail("both take over")
					}
					if da.Role == RolePrimary && db.Role == RolePrimary {
						fail("both end primary")
					}
					if a.role == RolePrimary && b.role == RolePrimary {
						stays := da
						stayed, other := a, b
						if db.Role == RolePrimary {
							stays, stayed, other = db, b, a
						}
						if stays.Role != RolePrimary || stayed.epoch < other.epoch {
							fail("two primaries did not resolve to the higher epoch")
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d node pairs", n)
}

// forcedAway: a forced switchover in force names the peer.
func forcedAway(s situation) bool {
	r, ok := s.request()
	return ok && r.Force && r.Target != s.o.Node
}

// designated: a switchover in force names this node and the peer is alive.
func designated(s situation) bool {
	r, ok := s.request()
	return ok && r.Target == s.o.Node && s.o.Peer.Alive
}

// TestDecideSingle checks every discretised single-node observation: the
// role is maintenance, else fault past the restart limit, else primary, and
// nothing moves.
func TestDecideSingle(t *testing.T) {
	n := 0
	for _, role := range allRoles {
		for _, h := range allHealth {
			for _, fault := range bools {
				for _, maint := range bools {
					for _, hs := range allHolds {
						o := hs.with(Observation{Now: decideT0, Node: "pbx1", Role: role, Epoch: 3, Health: h, PBXFault: fault, Maintenance: maint})
						p := DefaultPolicy()
						p.Single = true
						d := Decide(o, p)
						n++
						want := RolePrimary
						switch {
						case maint:
							want = RoleMaintenance
						case fault:
							want = RoleFault
						}
						if d.Action != ActionNone || d.Role != want || d.NextEpoch != o.Epoch || d.Eligible || d.Reason == "" {
							t.Fatalf("got %s → %s epoch %d eligible %v %q, want none → %s epoch %d\nobservation %+v", d.Action, d.Role, d.NextEpoch, d.Eligible, d.Reason, want, o.Epoch, o)
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d observations", n)
}
