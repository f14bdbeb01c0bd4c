package failover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// witnessEvery is how often a silent peer that still answers on the VIP is
// asked again; vipEvery how often the VIP is put back or removed while the
// VIP tracker still says it is missing or found.
const (
	witnessEvery = time.Second
	vipEvery     = time.Second
)

// loopState is what the decision loop remembers between decisions. Only the
// loop goroutine touches it.
type loopState struct {
	started        time.Time
	failedSince    time.Time
	eligibleSince  time.Time
	failbackSince  time.Time
	noPrimarySince time.Time
	fence          FenceState
	witness        WitnessState
	retryAt        map[Action]time.Time
	lastAnnounce   time.Time
	splitAt        time.Time         // last split_brain event; zero outside an episode
	paths          []bool            // path liveness at the last tick
	peerSeen       string            // the peer's role (or "silent") at the last tick
	failing        map[Action]string // actions whose last attempt failed (action_failed raised), with the error
	pathLost       []bool            // a path_lost event is outstanding
	move, aux      *job              // the actions under way, one per lane; nil when none
	// confirmedAt: see Observation.ConfirmedAt; peerBoot and peerBootAt
	// are the peer's current boot and when it was first heard.
	confirmedAt time.Time
	peerBoot    BootID
	peerBootAt  time.Time
	peerAlive   bool      // the peer was alive at the last look
	isolated    time.Time // when the node stepped down, an isolated event outstanding (zero: none); resolved once the peer hears it again
	vipLost     bool      // a vip_lost event is outstanding
	lossSeen    uint64    // the transport's datagrams lost unread, at the last look
	lossAt      time.Time // Observation.HeartbeatLossAt
	watch       watchState
	sd          stateDirLoop // the state directory's checks and episode
	tbAsked     time.Time    // when a tie-breaker round was last asked for (zero: never)
	rest        rest         // what the last nextWake saw, for pushBack
	restOther   time.Time    // the earliest of nextWake's terms no heartbeat moves
}

// job is one action carried out apart from the decision loop: what the
// decision that started it saw, and what it came to.
type job struct {
	d        Decision
	move     Move
	role     Role              // the node's role when it started
	started  time.Time         // when it was decided
	detected time.Time         // takeover: since when no live primary was seen
	view     PeerView          // the peer as seen when it started
	req      SwitchoverRequest // the local switchover request in force then

	// Set by perform.
	tl      Timeline
	err     error
	undoErr error        // a failed takeover's undoing release
	witness WitnessState // witness
	detail  string       // witness: what answered
}

// tick takes one snapshot, decides, starts the action chosen, if any, and
// asks the tie-breaker when a round is due. It returns when the next
// decision is due if nothing happens before (nextWake).
func (n *Node) tick(ctx context.Context) time.Time {
	now := n.clock.Now()
	local := n.cfg.Local()
	view := n.tracker.View(now)

	n.mu.Lock()
	ls := &n.loopPrivate
	role, epoch := n.st.Role, n.st.Epoch
	maint := n.maint || local.Maintenance
	if seen := peerSeen(view); seen != ls.peerSeen {
		ls.peerSeen = seen
		at := view.LastHeard
		if !view.Alive {
			at = now
		}
		n.stepLocked(Step{At: at, Node: cmp.Or(view.Node, "peer"), What: "seen " + seen})
	}
	n.expireRequest(now, view)
	req := n.request.Request
	if n.request.Outcome != "pending" {
		req = SwitchoverRequest{}
	}
	confirmed := n.confirmedLocked(view)
	n.mu.Unlock()

	switch {
	case local.Health != probe.HealthFailed:
		ls.failedSince = time.Time{}
	case ls.failedSince.IsZero():
		ls.failedSince = now
	}
	if view.Alive {
		// Fencing and the witness are per silent-peer episode.
		ls.fence, ls.witness = FenceUnknown, WitnessUnknown
	}
	if role == RolePrimary || (view.Alive && view.Role == RolePrimary) {
		ls.noPrimarySince = time.Time{}
	} else if ls.noPrimarySince.IsZero() {
		ls.noPrimarySince = now
	}
	n.pathEvents(now)
	if lost := n.transportLoss(); lost != ls.lossSeen {
		ls.lossSeen, ls.lossAt = lost, now
	}

	o := Observation{
		Now: now, Node: n.cfg.Node, Role: role, Epoch: epoch, Health: local.Health,
		PBXFault: local.PBXFault, Maintenance: maint, StartedAt: ls.started, Peer: view,
		DB: local.DB, WAL: local.WAL, TieBreakerOK: local.TieBreakerOK, Fence: ls.fence,
		RestartPending: local.RestartPending, FailedSince: ls.failedSince,
		EligibleSince: ls.eligibleSince, Switchover: req, NoStreamingStandby: local.NoStreamingStandby,
		DBOnlyFailed: local.DBOnlyFailed, Busy: ls.busy(ls.move), AuxBusy: ls.busy(ls.aux),
		RetryAt: ls.retryAt, LastAnnounce: ls.lastAnnounce, ConfirmedAt: confirmed,
		TieBreakerAt: local.TieBreakerAt, HeartbeatLossAt: ls.lossAt, Witness: ls.witness, VIP: local.VIP, LinkDown: local.LinkDown,
		ActiveCalls: local.ActiveCalls, CallsCounted: local.CallsCounted, FailbackDueSince: ls.failbackSince,
		SteppedDownAt: ls.isolated,
	}
	d := Decide(o, n.cfg.Policy)
	ls.eligibleSince = d.EligibleSince(ls.eligibleSince, now)
	ls.failbackSince = d.FailbackDueSince(ls.failbackSince, now)
	n.splitBrain(now, d)
	n.watch(now, o, d)

	n.stateDirTick(now)
	if d.NextEpoch > epoch {
		if err := SaveEpoch(n.cfg.StateDir, d.NextEpoch); err != nil {
			// Once per episode an alert and an ERROR line, not at every
			// tick; status says the action is not taken, and why.
			n.stateDirFailed(now, err, d.NextEpoch)
			d.Reason = fmt.Sprintf("not acting, epoch %d cannot be persisted (state_dir unwritable): %s", d.NextEpoch, d.Reason)
			n.publishStatus(now, local, maint, d, role, epoch, err.Error())
			return n.nextWake(now, o, d)
		}
		n.stateDirWorked(now)
		epoch = d.NextEpoch
		n.mu.Lock()
		n.st.Epoch, n.hb.Epoch = epoch, epoch
		n.mu.Unlock()
	}
	newRole := d.Role
	switch d.Action {
	case ActionNone:
	case ActionFailback:
		n.requestFailback(view, d.Reason)
	case ActionTakeOver, ActionRelease, ActionStepDown:
		newRole = role // the move's role is held once it is done
		fallthrough
	default:
		n.start(ctx, now, d, role, epoch, view, req)
	}
	if newRole != role {
		n.roleChange(now, role, newRole, epoch, d.Reason)
	}
	n.publishStatus(now, local, maint, d, newRole, epoch, "")
	return n.nextWake(now, o, d)
}

// transportLoss returns how many datagrams the transport has lost unread
// (its "rcvbuf" and "overflow" drops), over all paths; 0 for a transport
// that does not count its drops.
func (n *Node) transportLoss() uint64 {
	c, ok := n.cfg.Transport.(Counted)
	if !ok {
		return 0
	}
	var lost uint64
	for _, drops := range c.Drops() {
		lost += drops["rcvbuf"] + drops["overflow"]
	}
	return lost
}

// confirmedLocked returns Observation.ConfirmedAt: the send time of the
// newest heartbeat of this node the peer says it heard; for a peer that
// writes format 1 (no such field) the last time it was heard; and for a new
// boot of the peer, or a peer heard again after a silence, not before it
// was heard (its first heartbeats cannot have heard this node yet: it gets
// the time to). n.mu is held.
func (n *Node) confirmedLocked(v PeerView) time.Time {
	ls := &n.loopPrivate
	if !v.Heard {
		return ls.confirmedAt
	}
	if v.Boot != ls.peerBoot || (v.Alive && !ls.peerAlive) {
		ls.peerBoot, ls.peerBootAt = v.Boot, v.LastHeard
		ls.confirmedAt = later(ls.confirmedAt, v.LastHeard)
	}
	ls.peerAlive = v.Alive
	switch {
	case v.Version < 2:
		if v.Alive {
			ls.confirmedAt = later(ls.confirmedAt, v.LastHeard)
		}
	case v.HeardBoot == n.boot:
		if at, ok := n.sentAtLocked(v.HeardSeq); ok {
			ls.confirmedAt = later(ls.confirmedAt, at)
		}
	}
	return ls.confirmedAt
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// running counts the actions under way.
func (ls *loopState) running() int {
	n := 0
	for _, j := range []*job{ls.move, ls.aux} {
		if j != nil {
			n++
		}
	}
	return n
}

// busy returns j's action, ActionNone when j is nil.
func (ls *loopState) busy(j *job) Action {
	if j == nil {
		return ActionNone
	}
	return j.d.Action
}

// requestFailback makes the failback Decide chose a switchover request to
// the preferred node, in this node's heartbeats from now on.
func (n *Node) requestFailback(view PeerView, reason string) {
	id := n.RequestSwitchover(view.Node, false)
	n.log.Info("failback: asking the preferred node to take over", "target", view.Node, "action", ActionFailback, "switchover", id, "reason", reason)
}

// start runs decision d's action apart from the loop, on its lane; finish
// takes its outcome back when it is done.
func (n *Node) start(ctx context.Context, now time.Time, d Decision, role Role, epoch uint64, view PeerView, req SwitchoverRequest) {
	ls := &n.loopPrivate
	j := &job{d: d, role: role, started: now, view: view, req: req,
		move: Move{Epoch: epoch, Reason: d.Reason, Peer: view.Node, PeerWAL: view.WAL, Force: d.Force}}
	switch d.Action {
	case ActionTakeOver:
		j.detected = cmp.Or(ls.noPrimarySince, now)
		j.move.Still = n.stillNoPrimary
	case ActionRestartPBX:
		ls.retryAt[ActionRestartPBX] = now.Add(n.cfg.RetryDelay) // a restart is not repeated at once
	case ActionReAnnounce:
		ls.lastAnnounce = now
	case ActionRestoreVIP, ActionDropVIP:
		// The VIP tracker reports the outcome; until it does, the same
		// move would be decided again at once.
		ls.retryAt[d.Action] = now.Add(vipEvery)
	}
	if d.Action != ActionReAnnounce && d.Action != ActionWitness {
		n.log.Info("acting", "role", role, "epoch", epoch, "action", d.Action, "reason", d.Reason)
	}
	n.mu.Lock()
	if d.Action.Move() {
		ls.move = j
		n.st.Busy, n.st.BusySince = d.Action, now
	} else {
		ls.aux = j
		n.st.AuxBusy, n.st.AuxSince = d.Action, now
	}
	n.mu.Unlock()
	n.jobs.Go(func() {
		n.perform(ctx, j)
		n.done <- j
	})
}

// stillNoPrimary is Move.Still for a takeover: it fails once the peer is
// heard alive as primary (a takeover decided on an older view — say, while
// a database rejoin held it up — would make two primaries).
func (n *Node) stillNoPrimary() error {
	v := n.tracker.View(n.clock.Now())
	if v.Alive && v.Role == RolePrimary {
		return fmt.Errorf("failover: take over: %w: %s is primary at epoch %d now", ErrOvertaken, v.Node, v.Epoch)
	}
	return nil
}

// perform calls the actuator for j. It runs on its own goroutine. A
// takeover that fails is undone with a release at once, before the loop
// hears of it.
func (n *Node) perform(ctx context.Context, j *job) {
	act := n.cfg.Act
	switch j.d.Action {
	case ActionTakeOver:
		j.tl, j.err = act.TakeOver(ctx, j.move)
		if j.err != nil && !errors.Is(j.err, ErrOvertaken) {
			undo := j.move
			undo.Reason = "undoing a failed take over: " + j.err.Error()
			_, j.undoErr = act.Release(ctx, undo)
		}
	case ActionRelease:
		j.tl, j.err = act.Release(ctx, j.move)
	case ActionStepDown:
		j.tl, j.err = act.StepDown(ctx, j.move)
	case ActionRestoreVIP:
		j.err = act.RestoreVIP(ctx)
	case ActionDropVIP:
		j.err = act.DropVIP(ctx)
	case ActionRestartPBX:
		j.err = act.RestartPBX(ctx)
	case ActionFencePeer:
		j.err = act.Fence(ctx, j.move)
	case ActionReAnnounce:
		j.err = act.ReAnnounce(ctx)
	case ActionWitness:
		j.witness, j.detail, j.err = act.Witness(ctx)
	}
}

// finish takes a finished action's outcome: the role it leads to, its
// timeline and events, and on failure the retry delay and the error line
// for Status.
func (n *Node) finish(j *job) {
	now := n.clock.Now()
	ls := &n.loopPrivate
	n.mu.Lock()
	if j.d.Action.Move() {
		ls.move = nil
		n.st.Busy, n.st.BusySince = ActionNone, time.Time{}
	} else {
		ls.aux = nil
		n.st.AuxBusy, n.st.AuxSince = ActionNone, time.Time{}
	}
	role, epoch := n.st.Role, n.st.Epoch
	n.mu.Unlock()

	newRole, lastErr := role, ""
	switch a := j.d.Action; {
	case a == ActionReAnnounce && j.err != nil:
		lastErr = fmt.Sprintf("re_announce: %v", j.err)
		n.log.Warn("re-announce failed", "role", role, "epoch", epoch, "err", j.err)
	case a == ActionReAnnounce:
	case a == ActionWitness && j.err != nil:
		// No answer could be had: nothing says the peer still serves.
		lastErr = fmt.Sprintf("witness: %v", j.err)
		n.log.Warn("VIP witness failed; taking its silence as no answer", "err", j.err)
		ls.witness = WitnessAbsent
	case a == ActionWitness:
		ls.witness = j.witness
		if j.witness == WitnessHeld {
			ls.retryAt[ActionWitness] = now.Add(witnessEvery)
			n.log.Warn("the silent peer still answers on the VIP: not taking over", "peer", j.view.Node, "detail", j.detail)
		}
	case j.err != nil:
		lastErr = n.actionFailed(now, j)
		if a == ActionFencePeer {
			ls.fence = FenceFailed
		}
	case a == ActionTakeOver:
		tl := j.tl
		tl.Detected, tl.Decided = j.detected, j.started
		if tl.Ready.IsZero() {
			tl.Ready = now
		}
		n.steps(tl.Steps(n.cfg.Node))
		n.actionWorked(now, a)
		n.takeoverEvent(tl, j.move.Epoch, j.view, j.req, j.d.Reason)
		newRole = j.d.Role
	case a == ActionRelease || a == ActionStepDown:
		tl := j.tl
		tl.Detected, tl.Decided = j.started, j.started
		if tl.Released.IsZero() {
			tl.Released = now
		}
		n.steps(tl.Steps(n.cfg.Node))
		n.actionWorked(now, a)
		n.measureStepDown(tl, j.started)
		newRole = j.d.Role
		if a == ActionStepDown {
			n.isolatedEvent(tl, j)
		}
	case a == ActionRestoreVIP:
		n.actionWorked(now, a)
		n.vipRestored(now)
	case a == ActionFencePeer:
		ls.fence = FenceOK
		n.actionWorked(now, a)
	default:
		n.actionWorked(now, a)
	}
	if newRole != role {
		n.roleChange(now, role, newRole, epoch, j.d.Reason)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st.Role, n.hb.Role = newRole, newRole
	if lastErr != "" {
		n.st.LastError = lastErr
	}
	if newRole != role {
		n.wakeSender()
	}
}

// publishStatus stores the tick's outcome for Status and the heartbeat.
func (n *Node) publishStatus(now time.Time, local LocalState, maint bool, d Decision, role Role, epoch uint64, lastErr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	changed := n.st.Role != role
	n.st.Role, n.st.Epoch, n.st.Health, n.st.Eligible, n.st.Maintenance = role, epoch, local.Health, d.Eligible, maint
	n.st.DecidedAt, n.st.Action, n.st.Reason = now, d.Action, d.Reason
	n.st.ConfirmedAt, n.st.Witness = n.loopPrivate.confirmedAt, n.loopPrivate.witness
	if lastErr != "" {
		n.st.LastError = lastErr
	}
	h := &n.hb
	h.Epoch, h.Role, h.Health, h.Probes, h.DB, h.WAL = epoch, role, local.Health, local.Probes, local.DB, local.WAL
	h.Maintenance, h.Eligible = maint, d.Eligible
	h.Switchover = SwitchoverRequest{}
	if n.request.Outcome == "pending" {
		h.Switchover = n.request.Request
	}
	if changed {
		n.wakeSender()
	}
}

// wakeSender asks for a heartbeat now. n.mu is held.
func (n *Node) wakeSender() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}
