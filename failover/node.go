package failover

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
)

// Node defaults.
const (
	// DefaultInterval is the heartbeat interval. The node decides four
	// times as often (at least every 10ms), so that a peer that went silent
	// or released is acted on within a quarter interval, not a whole one.
	DefaultInterval = 200 * time.Millisecond
	// DefaultRetryDelay is the least time between two attempts of an action
	// that failed or that must not repeat at once (restart_pbx, fence_peer).
	DefaultRetryDelay = 2 * time.Second
	// DefaultSwitchoverTimeout is how long a switchover request stays in force
	// before it is dropped unfulfilled.
	DefaultSwitchoverTimeout = time.Minute

	reAnnounceEvery  = time.Second // re_announce at most this often
	splitBrainRepeat = time.Minute // a lasting split brain is raised again this often
	historySize      = 10          // role changes kept for Status
	maxSteps         = 32          // switchover timeline steps kept
	leaveHeartbeats  = 3           // "released" heartbeats sent when stopping as primary
	leaveSpacing     = 20 * time.Millisecond

	// DefaultLeaveTimeout bounds the release when the node stops as primary.
	DefaultLeaveTimeout = 2 * time.Minute
)

// Actuators carry out a Decision. The node calls them from its decision loop,
// one at a time, never concurrently; each may block up to its own timeouts
// and should return early when ctx is done (the node is stopping). While one
// blocks, the node keeps sending and receiving heartbeats but decides nothing.
type Actuators interface {
	// TakeOver acquires the resources in order (database, VIP, PBX, hooks) at
	// epoch, which is already persisted. It returns the steps' times. On an
	// error the node calls Release to undo what was done and stays in its
	// role.
	TakeOver(ctx context.Context, epoch uint64, reason string) (Timeline, error)
	// Release gives the resources up in reverse order and returns the steps'
	// times. On an error the node stays primary and tries again after
	// NodeConfig.RetryDelay.
	Release(ctx context.Context, reason string) (Timeline, error)
	// RestartPBX restarts the local PBX (through the supervisor).
	RestartPBX(ctx context.Context) error
	// Fence makes sure the silent peer can no longer serve (fence_command);
	// reason is the decision's. On an error the node does not take over and
	// tries again after NodeConfig.RetryDelay, or at once when the peer was
	// heard again and fell silent anew.
	Fence(ctx context.Context, reason string) error
	// ReAnnounce repeats the VIP announcement (gratuitous ARP / unsolicited
	// NA) after two primaries met.
	ReAnnounce(ctx context.Context) error
}

// Timeline records when the steps of one takeover or release happened. The
// node fills Detected and Decided; the actuators fill the steps they have
// (zero for a step they do not have, e.g. DBPromoted without a managed
// database).
type Timeline struct {
	Detected time.Time // takeover: this node first saw no live primary; release: the decision
	Decided  time.Time // Decide chose take_over or release
	// Takeover steps.
	DBPromoted time.Time // the database accepted writes
	VIPUp      time.Time // the VIP was added and announced
	Ready      time.Time // the PBX serves and the hooks ran; the node sets it to TakeOver's return when zero
	// Release steps.
	HooksRan  time.Time // the release hooks ran
	VIPDown   time.Time // the VIP was removed
	DBDemoted time.Time // the database no longer takes writes (demoted or stopped)
	Released  time.Time // all done; the node sets it to Release's return when zero
}

// timelineSteps names the timeline's steps in the order they happen.
func (t Timeline) timelineSteps() []struct {
	key, what string
	at        time.Time
} {
	return []struct {
		key, what string
		at        time.Time
	}{
		{"decided_ms", "decided", t.Decided},
		{"db_promoted_ms", "database promoted", t.DBPromoted},
		{"vip_up_ms", "VIP up", t.VIPUp},
		{"ready_ms", "ready", t.Ready},
		{"hooks_ran_ms", "release hooks ran", t.HooksRan},
		{"vip_down_ms", "VIP down", t.VIPDown},
		{"db_demoted_ms", "database no longer writable", t.DBDemoted},
		{"released_ms", "released", t.Released},
	}
}

// Details returns the timeline for an event: each step that happened as
// milliseconds after Detected ("decided_ms", "db_promoted_ms", "vip_up_ms",
// "ready_ms"; for a release "hooks_ran_ms", "vip_down_ms", "db_demoted_ms",
// "released_ms") and "detected" as RFC 3339.
func (t Timeline) Details() map[string]any {
	d := map[string]any{"detected": t.Detected.Format(time.RFC3339Nano)}
	for _, s := range t.timelineSteps() {
		if !s.at.IsZero() {
			d[s.key] = t.Since(s.at).Milliseconds()
		}
	}
	return d
}

// Steps returns the steps that happened, in order, as node's.
func (t Timeline) Steps(node string) []Step {
	var out []Step
	for _, s := range t.timelineSteps() {
		if s.at.IsZero() {
			continue
		}
		what := s.what
		if s.key == "decided_ms" {
			what = "takeover decided"
			if !t.Released.IsZero() {
				what = "release decided"
			}
		}
		out = append(out, Step{At: s.at, Node: node, What: what})
	}
	return out
}

// Step is one timed step of a switchover, on either node, for the timeline
// `pbxha switchover` prints.
type Step struct {
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	What string    `json:"what"`
}

// Since returns how long after Detected the step at happened.
func (t Timeline) Since(at time.Time) time.Duration { return at.Sub(t.Detected) }

// LocalState is the local part of an Observation, read once per decision.
type LocalState struct {
	Health         probe.Health // aggregated health of the local probes
	Probes         ProbeSummary // probe verdicts for the heartbeat
	PBXFault       bool         // the PBX restart limit was reached
	RestartPending bool         // a PBX restart is under way or waiting out its back-off
	DB             DBRole       // this node's database role (DBNone without a managed database)
	WAL            uint64       // primary: current WAL LSN; standby: replayed LSN
	TieBreakerOK   bool         // at least one tie-breaker target answered recently
	Maintenance    bool         // maintenance mode is on (e.g. set over the control API)
	// NoStreamingStandby: DB is DBPrimary and no standby streams WAL from
	// it, as far as the last reading shows (an old or missing reading
	// counts as none). False without a managed database.
	NoStreamingStandby bool
	// DBOnlyFailed: Health is failed only because of database probes
	// (kind pg): restarting the PBX would not help.
	DBOnlyFailed bool
}

// NodeConfig configures a Node.
type NodeConfig struct {
	Cluster, Node string        // pair name and this node's name
	Key           []byte        // shared HMAC key, at least MinKeySize bytes
	Policy        Policy        // decision settings, the same on both nodes
	Interval      time.Duration // heartbeat interval (decisions: every Interval/4); DefaultInterval when 0
	StateDir      string        // holds the epoch file; required
	Transport     Transport     // the heartbeat paths; owned by the caller, not closed by the node
	// Tracker sets the number of paths (required), DeadAfter (Policy.DeadAfter
	// when 0) and SkewWindow; Cluster, Node and Key are filled in from here.
	Tracker TrackerConfig
	Local   func() LocalState // read once per decision; must not block long
	Act     Actuators
	// OnEvent receives role_change, failover, switchover, split_brain and
	// peer_path_lost (Resolved when the path is back) events, with Node,
	// Cluster and Time set and ID left for the publisher. It must not block.
	OnEvent           func(event.Event)
	Logger            *slog.Logger     // slog.Default() when nil
	Now               func() time.Time // time.Now when nil
	RetryDelay        time.Duration    // DefaultRetryDelay when 0
	SwitchoverTimeout time.Duration    // DefaultSwitchoverTimeout when 0
	// ReleaseOnStop: when Run ends as primary, release and tell the peer
	// (see leave). Off, a stopping node goes silent like a crashed one.
	ReleaseOnStop bool
	LeaveTimeout  time.Duration // bounds that release; DefaultLeaveTimeout when 0
}

// RoleChange is one entry of a node's role history.
type RoleChange struct {
	At     time.Time `json:"at"`
	From   Role      `json:"from"`
	To     Role      `json:"to"`
	Epoch  uint64    `json:"epoch"` // the epoch after the change
	Reason string    `json:"reason"`
}

// SwitchoverState is the switchover request made on this node.
type SwitchoverState struct {
	Request SwitchoverRequest // the request (zero ID: none made yet)
	Since   time.Time         // when it was made
	Outcome string            // "pending", "done" or "timed out"
	// Steps is the request's timeline as seen from this node: its own
	// release or takeover steps, and the peer's role changes as its
	// heartbeats told them (at their arrival).
	Steps []Step
}

// NodeStatus is a snapshot of a Node for `pbxha status` and metrics.
type NodeStatus struct {
	Node        string
	Role        Role
	Epoch       uint64
	Health      probe.Health
	Eligible    bool
	Maintenance bool
	StartedAt   time.Time
	DecidedAt   time.Time // time of the last decision
	Action      Action    // action of the last decision
	Reason      string    // reason of the last decision
	LastError   string    // the last failed action or epoch write, "" if none since
	Peer        PeerView
	Paths       []PathState // per-path liveness, by path index
	History     []RoleChange
	Switchover  SwitchoverState
	Accepted    uint64            // heartbeats accepted
	Drops       map[string]uint64 // heartbeats dropped, by DropReason
	SendErrors  uint64            // heartbeat sends that failed on some path
}

// Node runs one side of the pair: it sends heartbeats, tracks the peer,
// decides every quarter Interval and carries the decision out through its
// Actuators. Its methods may be called concurrently with Run.
type Node struct {
	cfg     NodeConfig
	log     *slog.Logger
	tracker *PeerTracker
	boot    BootID
	wake    chan struct{} // asks the sender for a heartbeat now
	poke    chan struct{} // asks the decision loop for a decision now

	mu          sync.Mutex
	running     bool
	st          NodeStatus // Role, Epoch... as published
	hb          Heartbeat  // the next heartbeat's content, minus Seq and Sent
	maint       bool       // SetMaintenance
	request     SwitchoverState
	lastReqID   uint64
	sendErrors  uint64
	seq         uint64    // of the last heartbeat sent
	loopPrivate loopState // set up by Run under mu, then touched by the decision loop only
}

// loopState is what the decision loop remembers between ticks.
type loopState struct {
	started        time.Time
	failedSince    time.Time
	eligibleSince  time.Time
	noPrimarySince time.Time
	fence          FenceState
	retryAt        map[Action]time.Time
	lastAnnounce   time.Time
	splitAt        time.Time         // last split_brain event; zero outside an episode
	paths          []bool            // path liveness at the last tick
	peerSeen       string            // the peer's role (or "silent") at the last tick
	failing        map[Action]string // actions whose last attempt failed (action_failed raised), with the error
	pathLost       []bool            // a path_lost event is outstanding
}

// NewNode checks cfg, loads the epoch from cfg.StateDir and returns a node in
// role init. Call Run to start it.
func NewNode(cfg NodeConfig) (*Node, error) {
	where := fmt.Sprintf("failover: node %s", cfg.Node)
	switch {
	case cfg.StateDir == "":
		return nil, fmt.Errorf("%s: state dir not set", where)
	case cfg.Transport == nil:
		return nil, fmt.Errorf("%s: no transport", where)
	case cfg.Local == nil:
		return nil, fmt.Errorf("%s: no local state source", where)
	case cfg.Act == nil:
		return nil, fmt.Errorf("%s: no actuators", where)
	case cfg.Interval < 0 || cfg.RetryDelay < 0 || cfg.SwitchoverTimeout < 0:
		return nil, fmt.Errorf("%s: negative interval, retry delay or switchover timeout", where)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	if cfg.SwitchoverTimeout == 0 {
		cfg.SwitchoverTimeout = DefaultSwitchoverTimeout
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = DefaultLeaveTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Policy.DeadAfter <= 0 {
		cfg.Policy.DeadAfter = DefaultDeadAfter
	}
	if cfg.Interval >= cfg.Policy.DeadAfter {
		return nil, fmt.Errorf("%s: interval %s must be shorter than dead_after %s", where, cfg.Interval, cfg.Policy.DeadAfter)
	}
	tc := cfg.Tracker
	tc.Cluster, tc.Node, tc.Key = cfg.Cluster, cfg.Node, cfg.Key
	if tc.DeadAfter <= 0 {
		tc.DeadAfter = cfg.Policy.DeadAfter
	}
	cfg.Tracker.DeadAfter = tc.DeadAfter
	tr, err := NewPeerTracker(tc)
	if err != nil {
		return nil, err
	}
	epoch, err := LoadEpoch(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	boot := NewBootID()
	// Encode once now so that a bad cluster or node name fails here, not in
	// every heartbeat.
	if _, err := Encode(cfg.Key, Heartbeat{Cluster: cfg.Cluster, Node: cfg.Node, Boot: boot, Seq: 1, Sent: cfg.Now()}); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With("node", cfg.Node), tracker: tr, boot: boot,
		wake: make(chan struct{}, 1), poke: make(chan struct{}, 1),
	}
	n.st = NodeStatus{Node: cfg.Node, Role: RoleInit, Epoch: epoch, Health: probe.HealthUnknown}
	n.hb = Heartbeat{Cluster: cfg.Cluster, Node: cfg.Node, Boot: boot, Epoch: epoch, Role: RoleInit, Health: probe.HealthUnknown}
	return n, nil
}

// Run drives the node until ctx is done, then returns nil once its
// goroutines have stopped. It returns an error at once if the node is
// already running, and when the transport's receive channel closes. With
// ReleaseOnStop, a node that stops as primary releases first and tells the
// peer (see leave); without, it keeps the resources and goes silent.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return fmt.Errorf("failover: node %s: run: already running", n.cfg.Node)
	}
	n.running = true
	now := n.cfg.Now()
	n.loopPrivate = loopState{started: now, retryAt: map[Action]time.Time{}, failing: map[Action]string{}}
	n.st.StartedAt = now
	n.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	closed := make(chan struct{})
	wg.Go(func() { n.receive(ctx, closed) })
	n.tick(ctx)
	wg.Go(func() { n.send(ctx) })

	t := time.NewTicker(decideEvery(n.cfg.Interval))
	defer t.Stop()
	// A decision also falls due the moment the peer's silence reaches
	// dead_after, not up to a tick later.
	dead := time.NewTimer(n.untilPeerDead())
	defer dead.Stop()
	for {
		select {
		case <-ctx.Done():
			n.leave()
			return nil
		case <-closed:
			return fmt.Errorf("failover: node %s: run: transport closed", n.cfg.Node)
		case <-t.C:
		case <-n.poke:
		case <-dead.C:
		}
		n.tick(ctx)
		dead.Reset(n.untilPeerDead())
	}
}

// untilPeerDead is how long until the live peer, unheard from now on, is
// dead (a millisecond past dead_after); a minute while it is not alive.
func (n *Node) untilPeerDead() time.Duration {
	now := n.cfg.Now()
	v := n.tracker.View(now)
	if !v.Alive {
		return time.Minute
	}
	return v.LastHeard.Add(n.cfg.Tracker.DeadAfter).Sub(now) + time.Millisecond
}

// Poke asks for a decision now rather than at the next tick: the daemon
// calls it when the local health changes, the node itself when a heartbeat
// arrives. It never blocks; pokes while a decision runs fold into one.
func (n *Node) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// decideEvery is the decision period for a heartbeat interval: a quarter
// of it, at least 10ms.
func decideEvery(interval time.Duration) time.Duration {
	return max(interval/4, 10*time.Millisecond)
}

// receive feeds every received packet to the tracker, stamped on arrival.
func (n *Node) receive(ctx context.Context, closed chan<- struct{}) {
	rx := n.cfg.Transport.Recv()
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-rx:
			if !ok {
				close(closed)
				return
			}
			if _, err := n.tracker.Receive(p.Path, p.Data, n.cfg.Now()); err != nil {
				n.log.Debug("heartbeat dropped", "path", p.Path, "reason", DropReason(err), "err", err)
				continue
			}
			n.Poke() // the peer's news (a release, a role) is acted on at once
		}
	}
}

// send writes a heartbeat every Interval, and at once when the loop asks
// (after a role change), also while an actuator blocks the loop.
func (n *Node) send(ctx context.Context) {
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		n.sendHeartbeat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		}
	}
}

// sendHeartbeat sends the current heartbeat once on every path.
func (n *Node) sendHeartbeat() {
	n.mu.Lock()
	n.seq++
	hb := n.hb
	hb.Seq = n.seq
	n.mu.Unlock()
	hb.Sent = n.cfg.Now()
	b, err := Encode(n.cfg.Key, hb)
	if err == nil {
		err = n.cfg.Transport.Send(b)
	}
	if err != nil {
		n.mu.Lock()
		n.sendErrors++
		n.mu.Unlock()
		n.log.Debug("heartbeat send failed", "err", err)
	}
}

// leave hands the service over when the node stops as primary: it releases
// (hooks, VIP, database — a database left primary behind a stopped pbxha
// would be a second writable primary once the peer promotes its own) and
// says so in a last heartbeat, sent a few times, so that the peer takes
// over at once as from any released node — without waiting out dead_after
// and without fencing a node that is merely stopping. A release that fails
// leaves the node silent and primary; the peer then sees it dead.
func (n *Node) leave() {
	n.mu.Lock()
	role, epoch := n.st.Role, n.st.Epoch
	n.mu.Unlock()
	if role != RolePrimary || !n.cfg.ReleaseOnStop {
		return
	}
	const reason = "pbxha stopping: handing the service to the peer"
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaveTimeout)
	defer cancel()
	if _, err := n.cfg.Act.Release(ctx, reason); err != nil {
		n.log.Error("release at stop failed: the peer takes over once it finds this node silent", "role", role, "action", ActionRelease, "err", err)
		return
	}
	now := n.cfg.Now()
	n.roleChange(now, RolePrimary, RoleStandby, epoch, reason)
	n.mu.Lock()
	n.st.Role, n.st.Reason = RoleStandby, reason
	n.hb.Role, n.hb.Eligible = RoleStandby, false
	n.mu.Unlock()
	for i := range leaveHeartbeats {
		if i > 0 {
			time.Sleep(leaveSpacing)
		}
		n.sendHeartbeat()
	}
}

// tick takes one snapshot, decides, and acts.
func (n *Node) tick(ctx context.Context) {
	now := n.cfg.Now()
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
	n.mu.Unlock()

	switch {
	case local.Health != probe.HealthFailed:
		ls.failedSince = time.Time{}
	case ls.failedSince.IsZero():
		ls.failedSince = now
	}
	if view.Alive {
		ls.fence = FenceUnknown // fencing is per silent-peer episode
	} else if ls.fence == FenceFailed && !now.Before(ls.retryAt[ActionFencePeer]) {
		ls.fence = FenceUnknown // try the fence again
	}
	if role == RolePrimary || (view.Alive && view.Role == RolePrimary) {
		ls.noPrimarySince = time.Time{}
	} else if ls.noPrimarySince.IsZero() {
		ls.noPrimarySince = now
	}
	n.pathEvents(now)

	o := Observation{
		Now: now, Node: n.cfg.Node, Role: role, Epoch: epoch, Health: local.Health,
		PBXFault: local.PBXFault, Maintenance: maint, StartedAt: ls.started, Peer: view,
		DB: local.DB, WAL: local.WAL, TieBreakerOK: local.TieBreakerOK, Fence: ls.fence,
		RestartPending: local.RestartPending, FailedSince: ls.failedSince,
		EligibleSince: ls.eligibleSince, Switchover: req, NoStreamingStandby: local.NoStreamingStandby,
		DBOnlyFailed: local.DBOnlyFailed,
	}
	d := Decide(o, n.cfg.Policy)
	ls.eligibleSince = d.EligibleSince(ls.eligibleSince, now)
	n.splitBrain(now, d)

	reason := d.Reason
	if wait := ls.retryAt[d.Action].Sub(now); wait > 0 && d.Action != ActionNone && d.Action != ActionFencePeer {
		// The same action failed (or, for restart_pbx, ran) a moment ago:
		// wait, in the role held now. A standby still learns the peer's epoch.
		reason = fmt.Sprintf("%s; %s again in %s", d.Reason, d.Action, wait.Round(time.Millisecond))
		if d.Action == ActionTakeOver || d.Action == ActionRelease {
			d.Role, d.NextEpoch = role, epoch
			if role != RolePrimary && view.Heard {
				d.NextEpoch = max(epoch, view.Epoch)
			}
		}
		d.Action = ActionNone
	}
	if d.Action == ActionRelease && d.NextEpoch > epoch {
		// A release adopts the peer's higher epoch only once done (the
		// standby's next decision learns it): heartbeats saying "primary
		// at the peer's epoch" while a slow release (a database demotion)
		// runs would tie, and a peer that this node outranks would release
		// too, leaving no primary.
		d.NextEpoch = epoch
	}
	if d.NextEpoch > epoch {
		if err := SaveEpoch(n.cfg.StateDir, d.NextEpoch); err != nil {
			n.log.Error("epoch not persisted: not acting", "epoch", d.NextEpoch, "action", d.Action, "err", err)
			n.publishStatus(now, local, maint, d, role, epoch, reason, err.Error())
			return
		}
		epoch = d.NextEpoch
		n.mu.Lock()
		n.st.Epoch, n.hb.Epoch = epoch, epoch
		n.mu.Unlock()
	}
	newRole, lastErr := n.act(ctx, now, d, role, epoch, view, req)
	if newRole != role {
		n.roleChange(now, role, newRole, epoch, d.Reason)
	}
	n.publishStatus(now, local, maint, d, newRole, epoch, reason, lastErr)
}

// act carries out decision d, taken in role at epoch, and returns the role
// the node holds after it and the error line for Status ("" if none).
func (n *Node) act(ctx context.Context, now time.Time, d Decision, role Role, epoch uint64, view PeerView, req SwitchoverRequest) (newRole Role, lastErr string) {
	ls := &n.loopPrivate
	newRole = d.Role
	if d.Action != ActionNone {
		n.log.Info("acting", "role", role, "epoch", epoch, "action", d.Action, "reason", d.Reason)
	}
	switch d.Action {
	case ActionTakeOver:
		got, err := n.cfg.Act.TakeOver(ctx, epoch, d.Reason)
		if err != nil {
			lastErr = n.failed(ctx, now, d, role, err)
			newRole = role
			break
		}
		got.Detected, got.Decided = cmp.Or(ls.noPrimarySince, now), now
		if got.Ready.IsZero() {
			got.Ready = n.cfg.Now()
		}
		n.steps(got.Steps(n.cfg.Node))
		n.actionWorked(now, d.Action)
		n.takeoverEvent(got, epoch, view, req, d.Reason)
	case ActionRelease:
		got, err := n.cfg.Act.Release(ctx, d.Reason)
		if err != nil {
			lastErr = n.failed(ctx, now, d, role, err)
			newRole = role
			break
		}
		got.Detected, got.Decided = now, now
		if got.Released.IsZero() {
			got.Released = n.cfg.Now()
		}
		n.steps(got.Steps(n.cfg.Node))
		n.actionWorked(now, d.Action)
	case ActionRestartPBX:
		ls.retryAt[ActionRestartPBX] = now.Add(n.cfg.RetryDelay)
		if err := n.cfg.Act.RestartPBX(ctx); err != nil {
			lastErr = n.failed(ctx, now, d, role, err)
		} else {
			n.actionWorked(now, d.Action)
		}
	case ActionFencePeer:
		ls.fence = FenceOK
		if err := n.cfg.Act.Fence(ctx, d.Reason); err != nil {
			ls.fence = FenceFailed
			lastErr = n.failed(ctx, now, d, role, err)
		} else {
			n.actionWorked(now, d.Action)
		}
	case ActionReAnnounce:
		if now.Sub(ls.lastAnnounce) >= reAnnounceEvery {
			ls.lastAnnounce = now
			if err := n.cfg.Act.ReAnnounce(ctx); err != nil {
				lastErr = fmt.Sprintf("re_announce: %v", err)
				n.log.Warn("re-announce failed", "role", role, "epoch", epoch, "err", err)
			}
		}
	}
	return newRole, lastErr
}

// failed handles an actuator error: it logs it, schedules the retry, and,
// for a takeover, releases what part of it was done. It returns the status
// line.
func (n *Node) failed(ctx context.Context, now time.Time, d Decision, role Role, err error) string {
	ls := &n.loopPrivate
	ls.retryAt[d.Action] = now.Add(n.cfg.RetryDelay)
	n.log.Error("action failed", "role", role, "action", d.Action, "reason", d.Reason, "err", err)
	msg := fmt.Sprintf("%s: %v", d.Action, err)
	if _, already := ls.failing[d.Action]; !already {
		// Once per run of failures: a fence retried every RetryDelay must
		// not page the operator every time.
		sev := event.Critical
		if d.Action == ActionRestartPBX {
			sev = event.Warning // the supervisor raises its own events
		}
		n.emit(event.Event{Kind: event.ActionFailed, Severity: sev, Time: now,
			Summary: fmt.Sprintf("%s: %s failed, retrying every %s: %v", n.cfg.Node, d.Action, n.cfg.RetryDelay, err),
			Details: map[string]any{"action": d.Action.String(), "error": err.Error(), "reason": d.Reason}})
	}
	ls.failing[d.Action] = err.Error()
	if d.Action == ActionTakeOver {
		if _, rerr := n.cfg.Act.Release(ctx, "undoing a failed take over: "+err.Error()); rerr != nil {
			n.log.Error("undoing a failed take over", "role", role, "action", ActionRelease, "err", rerr)
			msg += fmt.Sprintf("; undo: %v", rerr)
		}
	}
	return msg
}

// actionWorked resolves the action_failed raised for a, if any.
func (n *Node) actionWorked(now time.Time, a Action) {
	ls := &n.loopPrivate
	errText, was := ls.failing[a]
	if !was {
		return
	}
	delete(ls.failing, a)
	n.emit(event.Event{Kind: event.ActionFailed, Severity: event.Info, Time: now, Resolved: true,
		Summary: fmt.Sprintf("%s: %s worked again", n.cfg.Node, a),
		Details: map[string]any{"action": a.String(), "error": errText}})
}

// publishStatus stores the tick's outcome for Status and the heartbeat.
func (n *Node) publishStatus(now time.Time, local LocalState, maint bool, d Decision, role Role, epoch uint64, reason, lastErr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	changed := n.st.Role != role
	n.st.Role, n.st.Epoch, n.st.Health, n.st.Eligible, n.st.Maintenance = role, epoch, local.Health, d.Eligible, maint
	n.st.DecidedAt, n.st.Action, n.st.Reason = now, d.Action, reason
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
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// roleChange records and announces a role change.
func (n *Node) roleChange(now time.Time, from, to Role, epoch uint64, reason string) {
	n.mu.Lock()
	n.st.History = append(n.st.History, RoleChange{At: now, From: from, To: to, Epoch: epoch, Reason: reason})
	if len(n.st.History) > historySize {
		n.st.History = n.st.History[len(n.st.History)-historySize:]
	}
	n.mu.Unlock()
	n.log.Info("role changed", "role", to, "from", from, "epoch", epoch, "reason", reason)
	sev := event.Info
	switch {
	case to == RoleFault:
		sev = event.Critical
	case to == RolePrimary || from == RolePrimary:
		sev = event.Warning
	}
	n.emit(event.Event{Kind: event.RoleChange, Severity: sev, Time: now,
		Summary: fmt.Sprintf("%s: %s → %s at epoch %d: %s", n.cfg.Node, from, to, epoch, reason),
		Details: map[string]any{"from": from.String(), "to": to.String(), "epoch": epoch, "reason": reason}})
}

// takeoverEvent raises failover, or switchover when a request for this node
// was in force.
func (n *Node) takeoverEvent(tl Timeline, epoch uint64, view PeerView, req SwitchoverRequest, reason string) {
	kind, sev := event.Failover, event.Critical
	if epoch == 1 {
		sev = event.Info // the pair's first primary
	}
	peerReq := view.Alive && view.Switchover.Active() && (view.Switchover.Target == n.cfg.Node || view.Switchover.Target == "")
	if (req.Active() && req.Target == n.cfg.Node) || peerReq {
		kind, sev = event.Switchover, event.Info
	}
	details := tl.Details()
	details["epoch"], details["reason"] = epoch, reason
	n.emit(event.Event{Kind: kind, Severity: sev, Time: tl.Ready,
		Summary: fmt.Sprintf("%s took over at epoch %d in %s: %s", n.cfg.Node, epoch, tl.Since(tl.Ready).Round(time.Millisecond), reason),
		Details: details})
}

// splitBrain raises split_brain when Decide flags it, at most once per
// splitBrainRepeat while it lasts.
func (n *Node) splitBrain(now time.Time, d Decision) {
	ls := &n.loopPrivate
	if d.Alert != event.SplitBrain {
		ls.splitAt = time.Time{}
		return
	}
	if !ls.splitAt.IsZero() && now.Sub(ls.splitAt) < splitBrainRepeat {
		return
	}
	ls.splitAt = now
	n.log.Warn("split brain", "action", d.Action, "reason", d.Reason)
	n.emit(event.Event{Kind: event.SplitBrain, Severity: event.Critical, Time: now,
		Summary: fmt.Sprintf("%s: two primaries met: %s", n.cfg.Node, d.Reason),
		Details: map[string]any{"action": d.Action.String(), "reason": d.Reason}})
}

// pathEvents raises peer_path_lost when a path that carried heartbeats goes
// silent, and the same kind, resolved, when it carries them again.
func (n *Node) pathEvents(now time.Time) {
	ls := &n.loopPrivate
	ps := n.tracker.Paths(now)
	if ls.paths == nil {
		ls.paths, ls.pathLost = make([]bool, len(ps)), make([]bool, len(ps))
	}
	for i, p := range ps {
		was := ls.paths[i]
		ls.paths[i] = p.Alive
		switch {
		case was && !p.Alive:
			ls.pathLost[i] = true
			n.log.Warn("heartbeat path lost", "path", i, "last_heard", p.LastHeard)
			n.emit(event.Event{Kind: event.PeerPathLost, Severity: event.Warning, Time: now,
				Summary: fmt.Sprintf("%s: heartbeat path %d silent since %s", n.cfg.Node, i, p.LastHeard.Format(time.RFC3339Nano)),
				Details: map[string]any{"path": i, "last_heard": p.LastHeard.Format(time.RFC3339Nano)}})
		case !was && p.Alive && ls.pathLost[i]:
			ls.pathLost[i] = false
			n.log.Info("heartbeat path restored", "path", i)
			n.emit(event.Event{Kind: event.PeerPathLost, Severity: event.Info, Time: now, Resolved: true,
				Summary: fmt.Sprintf("%s: heartbeat path %d restored", n.cfg.Node, i),
				Details: map[string]any{"path": i}})
		}
	}
}

func (n *Node) emit(e event.Event) {
	if n.cfg.OnEvent == nil {
		return
	}
	e.Node, e.Cluster = n.cfg.Node, n.cfg.Cluster
	n.cfg.OnEvent(e)
}

// peerSeen names the peer's state for the switchover timeline: its role
// while it is heard, "silent" otherwise.
func peerSeen(v PeerView) string {
	if !v.Alive {
		return "silent"
	}
	return v.Role.String()
}

// steps adds steps to the pending switchover's timeline.
func (n *Node) steps(ss []Step) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range ss {
		n.stepLocked(s)
	}
}

// stepLocked adds a step to the pending switchover's timeline, if one is
// pending. n.mu is held.
func (n *Node) stepLocked(s Step) {
	if n.request.Outcome == "pending" && len(n.request.Steps) < maxSteps {
		n.request.Steps = append(n.request.Steps, s)
	}
}

// expireRequest ends the local switchover request once its target is
// primary, or after SwitchoverTimeout. n.mu is held.
func (n *Node) expireRequest(now time.Time, view PeerView) {
	r := &n.request
	if r.Outcome != "pending" {
		return
	}
	t := r.Request.Target
	switch {
	case t == n.cfg.Node && n.st.Role == RolePrimary,
		t != n.cfg.Node && t == view.Node && view.Alive && view.Role == RolePrimary,
		t == "" && n.st.Role != RolePrimary && view.Alive && view.Role == RolePrimary:
		n.stepLocked(Step{At: now, Node: n.cfg.Node, What: "switchover done"})
		r.Outcome = "done"
		n.log.Info("switchover done", "target", t, "id", r.Request.ID)
	case now.Sub(r.Since) >= n.cfg.SwitchoverTimeout:
		r.Outcome = "timed out"
		n.log.Warn("switchover timed out", "target", t, "id", r.Request.ID, "timeout", n.cfg.SwitchoverTimeout)
	}
}

// RequestSwitchover asks for a planned move of the primary role to target
// (this node or the peer; "" means the node that is not primary now) and
// returns the request's id. force promotes past max_lag_bytes. The request
// replaces any earlier one, travels in this node's heartbeats, and ends when
// target is primary or after NodeConfig.SwitchoverTimeout (see Status). The
// caller checks that target names a node of the pair.
func (n *Node) RequestSwitchover(target string, force bool) uint64 {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if target == "" {
		// Fix the target now, so that the request does not follow the role.
		target = n.cfg.Node
		if n.st.Role == RolePrimary {
			target = n.tracker.View(now).Node // "" if the peer was never heard
		}
	}
	id := max(uint64(now.UnixNano()), n.lastReqID+1)
	n.lastReqID = id
	n.request = SwitchoverState{Request: SwitchoverRequest{Target: target, ID: id, Force: force}, Since: now, Outcome: "pending",
		Steps: []Step{{At: now, Node: n.cfg.Node, What: fmt.Sprintf("switchover to %s requested", cmp.Or(target, "the peer"))}}}
	n.hb.Switchover = n.request.Request
	n.log.Info("switchover requested", "target", target, "id", id, "force", force)
	return id
}

// EndSwitchover ends the switchover request id as "timed out" if it is
// still pending, and reports whether it did: the caller stopped waiting, and
// a request nobody waits for must not move the service later. The request
// leaves the heartbeats; a release already under way completes.
func (n *Node) EndSwitchover(id uint64) bool {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := &n.request
	if r.Request.ID != id || r.Outcome != "pending" {
		return false
	}
	n.stepLocked(Step{At: now, Node: n.cfg.Node, What: "switchover timed out"})
	r.Outcome = "timed out"
	n.hb.Switchover = SwitchoverRequest{}
	n.log.Warn("switchover timed out", "target", r.Request.Target, "id", id, "reason", "the caller stopped waiting")
	return true
}

// SetMaintenance switches this node's maintenance mode: while on (here or in
// LocalState), the pair takes no automatic action. A primary stays primary.
func (n *Node) SetMaintenance(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.maint = on
}

// Status returns a snapshot of the node.
func (n *Node) Status() NodeStatus {
	now := n.cfg.Now()
	n.mu.Lock()
	st := n.st
	st.History = append([]RoleChange(nil), n.st.History...)
	st.Switchover = n.request
	st.Switchover.Steps = append([]Step(nil), n.request.Steps...)
	st.SendErrors = n.sendErrors
	n.mu.Unlock()
	st.Peer = n.tracker.View(now)
	st.Paths = n.tracker.Paths(now)
	st.Accepted, st.Drops = n.tracker.Counters()
	return st
}
