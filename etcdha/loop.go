package etcdha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/pbxha/pbxha/coord"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// historySize is how many role changes status keeps.
const historySize = 10

// state is the runtime's mutable state, guarded by Runtime.mu.
type state struct {
	view   view
	synced bool

	lease     clientv3.LeaseID
	safeUntil time.Time // the lease is certainly alive until then
	renewedAt time.Time
	etcdErr   string // the last renewal's error while renewals fail
	etcdErrAt time.Time

	role          failover.Role
	reason        string
	lastErr       string
	eligible      bool
	noLeaderSince time.Time
	eligibleSince map[string]time.Time // other members, as this node saw them
	failedSince   time.Time
	retryAt       map[failover.Action]time.Time
	failing       map[failover.Action]bool
	history       []failover.RoleChange
	budget        time.Duration // the step-down budget, raised to the slowest measured

	busy, aux           failover.Action
	busySince, auxSince time.Time
	cancelBusy          context.CancelFunc
	stepDownAsked       bool // a step-down interrupts the takeover under way
	isolated            bool // stepped down for the lease; resolved once renewed
	vipLost             bool // vip_lost raised; resolved once the VIP is back

	published    memberDoc
	publishing   bool      // a write of the member key is under way
	republish    bool      // the doc may have changed during that write
	publishRetry time.Time // a failed write is tried again from then

	steps []failover.Step // the newest moves' steps, for switchover timelines
}

// restEvery is the longest the decision loop sleeps: what no event
// announces — a new database reading (the position, published at most
// every AnnounceEvery), the PBX supervisor's state, the database probe's
// freshness — is looked at within this long.
const restEvery = time.Second

// loop decides on events — a key changed in etcd, a renewal failed or
// came back, a probe's verdict, maintenance, the VIP or a tracked link
// changed, an action ended, a switchover was asked for (Poke) — and at the
// instant decide returns: the next instant the decision would change with
// nothing else happening (coord.NextDeadline: the lease's step-down point,
// the end of a takeover wait, a retry), or restEvery. It sleeps on one
// timer between, until ctx is done.
func (r *Runtime) loop(ctx context.Context) {
	t := r.clock.NewTimer(restEvery)
	defer t.Stop()
	for {
		now := r.clock.Now()
		wake := r.decide(now)
		t.Reset(max(wake.Sub(r.clock.Now()), 0))
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-r.poke:
		}
	}
}

// observe builds the decision's snapshot at now.
func (r *Runtime) observe(now time.Time, ls failover.LocalState) coord.Observation {
	st := &r.st
	v := st.view
	o := coord.Observation{
		Now: now, Node: r.cfg.Node, Role: st.role, Epoch: v.epoch, Local: ls, Priority: r.cfg.Priority, StartedAt: r.start,
		Synced: st.synced, Leader: v.leader, LeaderMine: v.leader == r.cfg.Node && v.leaderLease == st.lease && st.lease != 0,
		LeaderWAL: v.optime, Busy: st.busy, AuxBusy: st.aux, RetryAt: st.retryAt, FailedSince: st.failedSince,
	}
	if st.lease != 0 {
		o.SafeUntil = st.safeUntil
	}
	if v.leader == "" {
		if st.noLeaderSince.IsZero() {
			st.noLeaderSince = now
		}
	} else {
		st.noLeaderSince = time.Time{}
	}
	o.NoLeaderSince = st.noLeaderSince
	if sw := v.switchover; sw.ID != "" {
		o.Switchover = coord.Request{ID: sw.ID, To: sw.To, Force: sw.Force, Away: sw.Away}
	}
	for name, m := range v.members {
		if name == r.cfg.Node {
			continue
		}
		if !m.Eligible {
			delete(st.eligibleSince, name)
		} else if _, ok := st.eligibleSince[name]; !ok {
			st.eligibleSince[name] = now
		}
		o.Members = append(o.Members, m.member(st.eligibleSince[name]))
	}
	for name := range st.eligibleSince {
		if _, ok := v.members[name]; !ok {
			delete(st.eligibleSince, name)
		}
	}
	return o
}

// decide runs one decision, starts its action and publishes this node's
// member key when it changed. It returns when the loop must decide again
// if nothing happens before: the first of coord.NextDeadline, the
// member key's next write due, and restEvery from now.
func (r *Runtime) decide(now time.Time) time.Time {
	r.decisions.Add(1)
	ls := r.src.Local(now)
	r.mu.Lock()
	if ls.Health == probe.HealthFailed {
		if r.st.failedSince.IsZero() {
			r.st.failedSince = now
		}
	} else {
		r.st.failedSince = time.Time{}
	}
	p := r.cfg.Policy
	p.StepDown = r.st.budget
	o := r.observe(now, ls)
	d := coord.Decide(o, p)
	r.st.reason, r.st.eligible = d.Reason, d.Eligible
	if r.st.isolated && o.SafeUntil.After(now) && o.Role != failover.RolePrimary && r.st.etcdErr == "" {
		r.st.isolated = false
		r.emit(event.Event{Kind: event.Isolated, Severity: event.Info, Resolved: true, Time: now,
			Summary: fmt.Sprintf("%s renews its etcd lease again", r.cfg.Node)})
	}
	from := r.st.role
	var j *job
	switch {
	case d.Action == failover.ActionStepDown && r.st.busy == failover.ActionTakeOver:
		if !r.st.stepDownAsked {
			r.st.stepDownAsked = true
			r.st.cancelBusy()
			r.log.Warn("interrupting the takeover to step down", "reason", d.Reason)
		}
	case d.Action == failover.ActionNone:
		if d.Role != from {
			r.setRole(now, d.Role, d.Reason)
		}
	default:
		j = r.startJob(d, o)
	}
	doc := r.memberDoc(ls, d)
	leader := o.LeaderMine && r.st.role == failover.RolePrimary
	// The deadline of the observation as it stands now that the action
	// started (busy, its retry time, the new role): a step-down point
	// falls due during a takeover too.
	wake := now.Add(restEvery)
	if j != nil || r.st.role != from {
		o = r.observe(now, ls)
	}
	if next := coord.NextDeadline(o, p); !next.IsZero() && next.Before(wake) {
		wake = next
	}
	r.mu.Unlock()
	if j != nil {
		go r.run(j)
	}
	if next := r.publish(now, doc, leader, ls.WAL); !next.IsZero() && next.Before(wake) {
		wake = next
	}
	return wake
}

// memberDoc is what this node publishes of itself now.
func (r *Runtime) memberDoc(ls failover.LocalState, d coord.Decision) memberDoc {
	m := memberDoc{Node: r.cfg.Node, Role: r.st.role.String(), Health: ls.Health.String(), Eligible: d.Eligible,
		Priority: r.cfg.Priority, Maintenance: ls.Maintenance, Probes: ls.Probes.Text()}
	if r.cfg.DB {
		m.DB, m.WAL = ls.DB.String(), ls.WAL
	}
	return m
}

// setRole records a role change and announces it; mu is held.
func (r *Runtime) setRole(now time.Time, to failover.Role, reason string) {
	from := r.st.role
	if from == to {
		return
	}
	r.st.role = to
	r.st.history = append(r.st.history, failover.RoleChange{At: now, From: from, To: to, Epoch: r.st.view.epoch, Reason: reason})
	if len(r.st.history) > historySize {
		r.st.history = r.st.history[len(r.st.history)-historySize:]
	}
	sev, level := event.Info, slog.LevelInfo
	switch {
	case to == failover.RoleFault:
		sev, level = event.Critical, slog.LevelError
	case to == failover.RolePrimary || from == failover.RolePrimary:
		sev, level = event.Warning, slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "role changed", "role", to, "from", from, "epoch", r.st.view.epoch, "reason", reason)
	r.emit(event.Event{Kind: event.RoleChange, Severity: sev, Time: now,
		Summary: fmt.Sprintf("%s: %s → %s at epoch %d: %s", r.cfg.Node, from, to, r.st.view.epoch, reason),
		Details: map[string]any{"from": from.String(), "to": to.String(), "epoch": r.st.view.epoch, "reason": reason}})
	r.publishNowLocked()
}

func (r *Runtime) publishNowLocked() { r.st.published = memberDoc{} }

func (r *Runtime) emit(e event.Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

// job is one action under way.
type job struct {
	d        coord.Decision
	o        coord.Observation
	ctx      context.Context
	decided  time.Time
	detected time.Time
	lease    clientv3.LeaseID
}

// startJob marks the action busy and returns it; mu is held.
func (r *Runtime) startJob(d coord.Decision, o coord.Observation) *job {
	j := &job{d: d, o: o, decided: o.Now, detected: o.Now, lease: r.st.lease}
	if d.Action == failover.ActionTakeOver && !o.NoLeaderSince.IsZero() {
		j.detected = o.NoLeaderSince
	}
	if d.Action == failover.ActionRestartPBX {
		r.st.aux, r.st.auxSince = d.Action, o.Now
		r.st.retryAt[d.Action] = o.Now.Add(RetryDelay) // at most once every RetryDelay
		j.ctx = context.Background()
		return j
	}
	if d.Action == failover.ActionRestoreVIP && !r.st.vipLost {
		// As in a pair: raised when the decision puts the VIP back.
		r.st.vipLost = true
		r.log.Warn("the VIP left this node's interface", "action", d.Action)
		r.emit(event.Event{Kind: event.VIPLost, Severity: event.Critical, Time: o.Now,
			Summary: r.cfg.Node + ": the VIP left this leader's interface; putting it back"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.ctx = ctx
	r.st.busy, r.st.busySince, r.st.cancelBusy, r.st.stepDownAsked = d.Action, o.Now, cancel, false
	return j
}

// run carries one action out and records its outcome.
func (r *Runtime) run(j *job) {
	var err error
	switch j.d.Action {
	case failover.ActionTakeOver:
		err = r.takeOver(j)
	case failover.ActionRelease:
		err = r.release(j)
	case failover.ActionStepDown:
		err = r.stepDown(j.ctx, j)
	case failover.ActionRestartPBX:
		err = r.act.RestartPBX(j.ctx)
	case failover.ActionRestoreVIP:
		err = r.act.RestoreVIP(j.ctx)
	case failover.ActionDropVIP:
		err = r.act.DropVIP(j.ctx)
	case failover.ActionFailback:
		err = r.request(context.Background(), j.d.Target, false)
	}
	now := r.clock.Now()
	r.mu.Lock()
	if j.d.Action == failover.ActionRestartPBX {
		r.st.aux = failover.ActionNone
	} else {
		r.st.busy, r.st.cancelBusy = failover.ActionNone, nil
	}
	if j.d.Action == failover.ActionRestoreVIP && err == nil && r.st.vipLost {
		r.st.vipLost = false
		r.emit(event.Event{Kind: event.VIPLost, Severity: event.Info, Resolved: true, Time: now,
			Summary: r.cfg.Node + ": the VIP is back on this leader's interface and announced"})
	}
	r.finished(now, j, err)
	r.mu.Unlock()
	r.Poke()
}

// finished records an action's outcome; mu is held.
func (r *Runtime) finished(now time.Time, j *job, err error) {
	a := j.d.Action
	if err == nil {
		delete(r.st.retryAt, a)
		if a != failover.ActionRestartPBX {
			r.setRole(now, j.d.Role, j.d.Reason)
		}
		if r.st.failing[a] {
			delete(r.st.failing, a)
			r.emit(event.Event{Kind: event.ActionFailed, Severity: event.Info, Resolved: true, Time: now,
				Summary: fmt.Sprintf("%s: %s works again", r.cfg.Node, a), Details: map[string]any{"action": a.String()}})
		}
		return
	}
	if errors.Is(err, errNotTaken) {
		r.log.Info("the leader key was taken by another node first", "action", a, "err", err)
		return
	}
	delay := RetryDelay
	if a == failover.ActionStepDown {
		delay = StepDownRetry
	}
	if a != failover.ActionRestartPBX {
		r.st.retryAt[a] = now.Add(delay)
	}
	r.st.lastErr = fmt.Sprintf("%s: %v", a, err)
	r.log.Error("action failed", "role", r.st.role, "action", a, "reason", j.d.Reason, "err", err)
	if !r.st.failing[a] {
		r.st.failing[a] = true
		sev := event.Critical
		if a == failover.ActionRestartPBX {
			sev = event.Warning
		}
		r.emit(event.Event{Kind: event.ActionFailed, Severity: sev, Time: now,
			Summary: fmt.Sprintf("%s: %s failed: %v", r.cfg.Node, a, err),
			Details: map[string]any{"action": a.String(), "error": err.Error(), "reason": j.d.Reason}})
	}
}

// errNotTaken: another node took the leader key first; nothing to undo.
var errNotTaken = errors.New("leader key not taken")

// acquire takes the leader key with this node's lease and raises the
// epoch in one transaction (or, when the key is still this node's, raises
// the epoch under it), and returns the new epoch.
func (r *Runtime) acquire(ctx context.Context, j *job) (uint64, error) {
	r.mu.Lock()
	v := r.st.view
	r.mu.Unlock()
	next := v.epoch + 1
	epochCmp := clientv3.Compare(clientv3.ModRevision(r.k.epoch()), "=", v.epochRev)
	put := []clientv3.Op{clientv3.OpPut(r.k.epoch(), strconv.FormatUint(next, 10))}
	var cond clientv3.Cmp
	if j.o.LeaderMine {
		cond = clientv3.Compare(clientv3.LeaseValue(r.k.leader()), "=", j.lease)
	} else {
		cond = clientv3.Compare(clientv3.CreateRevision(r.k.leader()), "=", 0)
		put = append(put, clientv3.OpPut(r.k.leader(), r.cfg.Node, clientv3.WithLease(j.lease)))
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Policy.RenewEvery())
	defer cancel()
	resp, err := r.cli.Txn(cctx).If(cond, epochCmp).Then(put...).Commit()
	if err != nil {
		return 0, fmt.Errorf("etcdha: take the leader key %s: %w", r.k.leader(), err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcdha: take the leader key %s: %w", r.k.leader(), errNotTaken)
	}
	r.mu.Lock()
	// The watch brings the same; set it now so that the next decision sees
	// the key as this node's.
	if !j.o.LeaderMine {
		r.st.view.leader, r.st.view.leaderLease = r.cfg.Node, j.lease
	}
	r.st.view.epoch, r.st.view.epochRev = next, resp.Header.Revision
	r.mu.Unlock()
	return next, nil
}

// resign deletes the leader key if this node's lease holds it.
func (r *Runtime) resign(lease clientv3.LeaseID, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(r.k.leader()), "=", lease)).
		Then(clientv3.OpDelete(r.k.leader())).Commit()
	if err != nil {
		return fmt.Errorf("etcdha: give up the leader key %s: %w", r.k.leader(), err)
	}
	return nil
}

// move is the failover.Move of job j at epoch.
func (r *Runtime) move(j *job, epoch uint64) failover.Move {
	return failover.Move{Epoch: epoch, Reason: j.d.Reason, PeerWAL: j.o.LeaderWAL, Force: j.d.Force}
}

// takeOver takes the leader key, then the resources in order. A takeover
// that fails (or that a step-down interrupts) is undone — released, or
// stepped down database first — and the key given up.
func (r *Runtime) takeOver(j *job) error {
	epoch, err := r.acquire(j.ctx, j)
	if err != nil {
		return err
	}
	tl, err := r.act.TakeOver(j.ctx, r.move(j, epoch))
	if err == nil {
		tl.Detected, tl.Decided = j.detected, j.decided
		if tl.Ready.IsZero() {
			tl.Ready = r.clock.Now()
		}
		r.takeoverEvent(tl, epoch, j)
		r.endRequest(j)
		return nil
	}
	r.mu.Lock()
	stepDown := r.st.stepDownAsked
	r.mu.Unlock()
	if stepDown {
		_, uerr := r.act.StepDown(context.Background(), r.move(j, epoch))
		err = errors.Join(fmt.Errorf("interrupted to step down: %w", err), uerr)
	} else if _, uerr := r.act.Release(context.Background(), r.move(j, epoch)); uerr != nil {
		err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
	}
	if rerr := r.resign(j.lease, r.cfg.Policy.RenewEvery()); rerr != nil {
		r.log.Warn("could not give up the leader key after a failed takeover; it expires with the lease", "err", rerr)
	}
	return err
}

// release gives the resources up in reverse order, then the leader key, so
// that the next leader takes over only once this one no longer serves.
func (r *Runtime) release(j *job) error {
	start := r.clock.Now()
	tl, err := r.act.Release(j.ctx, r.move(j, j.o.Epoch))
	if err != nil {
		return err
	}
	r.measured(r.clock.Now().Sub(start))
	if err := r.resign(j.lease, r.cfg.Policy.LeaseTTL); err != nil {
		// The key expires with the lease; until then nobody takes over.
		r.log.Warn("could not give up the leader key; it expires with the lease", "err", err)
	}
	tl.Detected, tl.Decided = j.decided, j.decided
	tl.Released = r.clock.Now()
	r.record(tl.Steps(r.cfg.Node))
	return nil
}

// stepDown gives the resources up database first for a leader whose lease
// may lapse, then tries to give up the key.
func (r *Runtime) stepDown(ctx context.Context, j *job) error {
	start := r.clock.Now()
	tl, err := r.act.StepDown(ctx, r.move(j, j.o.Epoch))
	if err != nil {
		return err
	}
	took := r.clock.Now().Sub(start)
	r.measured(took)
	tl.Detected, tl.Decided = j.decided, j.decided
	tl.Released = r.clock.Now()
	r.mu.Lock()
	r.st.isolated = true
	r.mu.Unlock()
	details := tl.Details()
	details["epoch"], details["reason"] = j.o.Epoch, j.d.Reason
	r.emit(event.Event{Kind: event.Isolated, Severity: event.Critical, Time: tl.Released,
		Summary: fmt.Sprintf("%s stepped down in %s: %s", r.cfg.Node, took.Round(time.Millisecond), j.d.Reason), Details: details})
	go func() {
		if err := r.resign(j.lease, r.cfg.Policy.RenewEvery()); err != nil {
			r.log.Debug("leader key not given up after the step-down; it expires with the lease", "err", err)
		}
	}()
	return nil
}

// measured raises the step-down budget to a release or step-down that
// took longer than it (with a 25 % margin), and warns; the budget stays
// within what the lease allows (half the TTL less the margin), and a
// step-down slower than that is an error: the lease may expire before it
// ends.
func (r *Runtime) measured(took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if took <= r.st.budget {
		return
	}
	p := r.cfg.Policy
	limit := p.LeaseTTL/2 - p.Margin()
	next := min(took+took/4, limit)
	if took > limit {
		r.log.Error("a step-down took longer than etcd.lease_ttl leaves room for: a new leader could take over before it ended; raise etcd.lease_ttl",
			"took", took, "lease_ttl", p.LeaseTTL, "budget", next)
	} else {
		r.log.Warn("a step-down took longer than the step-down budget; raising it", "took", took, "budget", next)
	}
	r.st.budget = max(r.st.budget, next)
}

// takeoverEvent raises failover, or switchover when a request named this
// node (or anyone).
func (r *Runtime) takeoverEvent(tl failover.Timeline, epoch uint64, j *job) {
	kind, sev := event.Failover, event.Critical
	if epoch == 1 {
		sev = event.Info
	}
	if j.o.Switchover.Active() && (j.o.Switchover.To == r.cfg.Node || j.o.Switchover.To == "") {
		kind, sev = event.Switchover, event.Info
	}
	details := tl.Details()
	details["epoch"], details["reason"] = epoch, j.d.Reason
	r.emit(event.Event{Kind: kind, Severity: sev, Time: tl.Ready,
		Summary: fmt.Sprintf("%s took over at epoch %d in %s: %s", r.cfg.Node, epoch, tl.Since(tl.Ready).Round(time.Millisecond), j.d.Reason),
		Details: details})
	lvl := slog.LevelWarn
	if sev < event.Warning {
		lvl = slog.LevelInfo
	}
	r.log.Log(context.Background(), lvl, "took over", "event", kind, "epoch", epoch, "reason", j.d.Reason, "ready_ms", tl.Since(tl.Ready).Milliseconds())
	r.record(tl.Steps(r.cfg.Node))
}

// record keeps a move's steps for the switchover timeline.
func (r *Runtime) record(steps []failover.Step) {
	r.mu.Lock()
	r.st.steps = append(r.st.steps, steps...)
	if len(r.st.steps) > 32 {
		r.st.steps = r.st.steps[len(r.st.steps)-32:]
	}
	r.mu.Unlock()
}

// leave releases everything when a leader stops, then gives up the key;
// a node that does not lead removes its member key.
func (r *Runtime) leave() {
	r.mu.Lock()
	if r.st.cancelBusy != nil {
		r.st.cancelBusy()
	}
	role, lease := r.st.role, r.st.lease
	mine := r.st.view.leader == r.cfg.Node && r.st.view.leaderLease == lease && lease != 0
	r.mu.Unlock()
	r.waitIdle(r.cfg.LeaveTimeout)
	if role == failover.RolePrimary || mine {
		ctx, cancel := context.WithTimeout(context.Background(), max(r.cfg.LeaveTimeout, time.Second))
		_, err := r.act.Release(ctx, failover.Move{Reason: "pbxha stopping"})
		cancel()
		if err != nil {
			r.log.Error("release at shutdown failed; the leader key expires with the lease", "err", err)
			return
		}
	}
	if lease != 0 {
		// Revoking the lease deletes the leader key and the member key at
		// once: the next leader need not wait for the TTL.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := r.cli.Revoke(ctx, lease); err != nil {
			r.log.Warn("could not revoke the etcd lease at shutdown; it expires", "err", err)
		}
		cancel()
	}
}

// waitIdle waits, up to within, for the move under way to end.
func (r *Runtime) waitIdle(within time.Duration) {
	deadline := r.clock.Now().Add(within)
	for r.clock.Now().Before(deadline) {
		r.mu.Lock()
		busy := r.st.busy
		r.mu.Unlock()
		if busy == failover.ActionNone {
			return
		}
		r.clock.Sleep(10 * time.Millisecond)
	}
}
