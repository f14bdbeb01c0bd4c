package failover

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
	"github.com/pbxha/pbxha/probe"
)

// Node defaults.
const (
	// DefaultInterval is the heartbeat interval. The node decides when
	// something changes and at each instant a rule of Decide turns (see
	// NextDeadline), not on a fixed tick.
	DefaultInterval = 200 * time.Millisecond
	// DefaultRetryDelay is the least time between two attempts of an action
	// that failed or that must not repeat at once (restart_pbx, fence_peer).
	DefaultRetryDelay = 2 * time.Second
	// DefaultSwitchoverTimeout is how long a switchover request stays in force
	// before it is dropped unfulfilled.
	DefaultSwitchoverTimeout = time.Minute
	// DefaultLeaveTimeout bounds the release when the node stops as primary.
	DefaultLeaveTimeout = 2 * time.Minute

	splitBrainRepeat = time.Minute // a lasting split brain is raised again this often
	historySize      = 10          // role changes kept for Status
	maxSteps         = 32          // switchover timeline steps kept
	leaveHeartbeats  = 3           // "released" heartbeats sent when stopping as primary
	leaveSpacing     = 20 * time.Millisecond
)

// NodeConfig configures a Node.
type NodeConfig struct {
	Cluster, Node string        // pair name and this node's name
	Keys          Keys          // the heartbeat keys: Current signs, Current or Next is accepted
	Policy        Policy        // decision settings, the same on both nodes
	Interval      time.Duration // heartbeat interval; DefaultInterval when 0
	StateDir      string        // holds the epoch file; required
	Transport     Transport     // the heartbeat paths; owned by the caller, not closed by the node
	// Tracker sets the number of paths (required), DeadAfter (Policy.DeadAfter
	// when 0) and SkewWindow; Cluster, Node and Keys are filled in from here.
	Tracker TrackerConfig
	Local   func() LocalState // read once per decision; must not block long
	// AskTieBreaker asks for a round of tie-breaker checks (it must not
	// block; the answer reaches the node through Local, with a Poke when
	// urgent or when the answer turns): the node asks at
	// TieBreakerCalmEvery, or every dead_after/5 while an answer can
	// matter (urgent; see TieBreakerDue). nil: the node asks nothing, and
	// Local's tie-breaker fields come from elsewhere.
	AskTieBreaker func(urgent bool)
	Act           Actuators
	// OnEvent receives role_change, failover, switchover, split_brain,
	// action_failed, peer_path_lost (Resolved when the path is back) and
	// state_dir_unwritable (Resolved when a write works again) events,
	// with Node, Cluster and Time set and ID left for the publisher. It
	// must not block.
	OnEvent func(event.Event)
	Logger  *slog.Logger // slog.Default() when nil
	Clock   clock.Clock  // clock.Real when nil: every time the node reads or waits on
	// KernelTimer: the decision loop sleeps on a kernel timer
	// (clock.KernelTimer) instead of one of Clock's, so that a heartbeat
	// putting its wake-up off (pushBack, five times a second at rest)
	// wakes nothing; the system clock's time then. What pbxha runs; off
	// on a fake clock.
	KernelTimer       bool
	RetryDelay        time.Duration // DefaultRetryDelay when 0
	SwitchoverTimeout time.Duration // DefaultSwitchoverTimeout when 0
	// ReleaseOnStop: when Run ends as primary, release and tell the peer
	// (see leave). Off, a stopping node goes silent like a crashed one.
	ReleaseOnStop bool
	LeaveTimeout  time.Duration // bounds that release; DefaultLeaveTimeout when 0
	// UnprotectedGrace: how long the pair may be unable to survive the next
	// fault before pair_unprotected (DefaultUnprotectedGrace when 0);
	// MaxClockOffset: the peer's clock offset that raises clock_offset
	// (DefaultMaxClockOffset when 0).
	UnprotectedGrace time.Duration
	MaxClockOffset   time.Duration
	// Resume: start as primary at the persisted epoch, holding what the
	// last process left — VIP, database, PBX — because it stopped for a
	// restart keeping the role (TakeResume found its note). The node then
	// has isolation_after from its start to be heard by its peer or reach
	// a tie-breaker, as any primary.
	Resume bool
}

// Node runs one side of the pair: it sends heartbeats, tracks the peer,
// decides when a heartbeat changes the peer's view, when poked (the local
// health changed), when an action finishes and at the next instant a
// decision is due (nextWake), and has the decision carried out by its
// Actuators, apart from the decision loop. Its methods may be
// called concurrently with Run.
type Node struct {
	cfg     NodeConfig
	clock   clock.Clock
	log     *slog.Logger
	tracker *PeerTracker
	boot    BootID
	wake    chan struct{} // asks the sender for a heartbeat now
	answer  chan struct{} // asks the sender to answer the primary's heartbeat
	poke    chan struct{} // asks the decision loop for a decision now
	done    chan *job     // actions that finished
	sendMu  sync.Mutex    // the sender's, and at stop leave's or pause's
	sendBuf []byte        // the heartbeat being sent, reused (Transport.Send keeps nothing)
	jobs    sync.WaitGroup

	restMu  sync.Mutex
	resting resting       // the decision loop's sleep, which heartbeats may put off (pushBack)
	fresh   atomic.Uint64 // fresh heartbeats received, counted before their pushBack

	mu          sync.Mutex
	keyset      Keys // SetKeys; the current key signs
	running     bool
	keepRole    bool       // KeepRoleOnStop: the next stop is a restart
	st          NodeStatus // Role, Epoch... as published
	hb          Heartbeat  // the next heartbeat's content, minus Seq and Sent
	maint       bool       // SetMaintenance
	request     SwitchoverState
	lastReqID   uint64
	sendErrors  uint64
	seq         uint64 // of the last heartbeat sent
	sentRing    [sentRingSize]sentRecord
	loopPrivate loopState // set up by Run under mu, then touched by the decision loop only
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
	cfg.Clock = clock.Or(cfg.Clock)
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
	tc.Cluster, tc.Node, tc.Keys, tc.Now = cfg.Cluster, cfg.Node, cfg.Keys, cfg.Clock.Now
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
	if _, err := Encode(cfg.Keys.Current, Heartbeat{Cluster: cfg.Cluster, Node: cfg.Node, Boot: boot, Seq: 1, Sent: cfg.Clock.Now()}); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With("node", cfg.Node), tracker: tr, boot: boot,
		wake: make(chan struct{}, 1), answer: make(chan struct{}, 1), poke: make(chan struct{}, 1), done: make(chan *job, 2),
	}
	n.keyset = cfg.Keys
	if f, ok := cfg.Transport.(Filtered); ok {
		f.SetFilter(tr.Admit)
	}
	n.st = NodeStatus{Node: cfg.Node, Role: RoleInit, Epoch: epoch, Health: probe.HealthUnknown, StepDownBudget: cfg.Policy.StepDown}
	n.hb = Heartbeat{Cluster: cfg.Cluster, Node: cfg.Node, Boot: boot, Epoch: epoch, Role: RoleInit, Health: probe.HealthUnknown,
		StepDown: cfg.Policy.StepDown}
	if cfg.Resume {
		n.st.Role, n.hb.Role = RolePrimary, RolePrimary
	}
	return n, nil
}

// Run drives the node until ctx is done, then returns nil once its
// goroutines have stopped. It returns an error at once if the node is
// already running, and when the transport's receive channel closes. An
// action under way when ctx ends gets ctx's cancellation and is waited for.
// With ReleaseOnStop, a node that stops as primary then releases and tells
// the peer (see leave); without, it keeps the resources and goes silent.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return fmt.Errorf("failover: node %s: run: already running", n.cfg.Node)
	}
	n.running = true
	now := n.clock.Now()
	n.loopPrivate = loopState{started: now, retryAt: map[Action]time.Time{}, failing: map[Action]string{}}
	if n.cfg.Resume {
		// Resumed as primary: heard by nobody yet, which counts from now.
		n.loopPrivate.confirmedAt = now
		n.log.Warn("resuming as primary after a restart that kept the role", "epoch", n.st.Epoch)
	}
	n.st.StartedAt = now
	n.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		n.jobs.Wait()
	}()
	closed := make(chan struct{})
	wg.Go(func() { n.receive(ctx, closed) })
	wg.Go(func() { n.send(ctx) })

	// Decisions come on events (a heartbeat that changes the view, a
	// poke, an action finishing, a tie-breaker round) and at the next
	// instant one is due (see nextWake): nothing wakes the loop otherwise.
	next := n.loopTimer()
	defer func() {
		n.stopResting()
		next.Stop()
		if c, ok := next.(io.Closer); ok {
			c.Close()
		}
	}()
	n.decideAndSleep(ctx, next)
	for {
		select {
		case <-ctx.Done():
			for range n.loopPrivate.running() {
				n.finish(<-n.done)
			}
			if !n.pause() {
				n.leave()
			}
			return nil
		case <-closed:
			return fmt.Errorf("failover: node %s: run: transport closed", n.cfg.Node)
		case j := <-n.done:
			n.finish(j)
		case <-next.C():
		case <-n.poke:
		}
		n.decideAndSleep(ctx, next)
	}
}

// decideAndSleep decides, then sets the loop's timer t for the next
// decision. A heartbeat that arrived while it decided put off nothing (the
// loop was not asleep): its pushBack runs then, on the sleep just set, so
// that the wake-up does not stay where the older acknowledgement put it
// (the primary's isolation round, a quarter interval after the grid point
// that the heartbeat arrived at).
func (n *Node) decideAndSleep(ctx context.Context, t clock.Timer) {
	seen := n.fresh.Load()
	n.sleep(t, n.tick(ctx))
	if n.fresh.Load() != seen {
		n.pushBack(n.clock.Now())
	}
}

// loopTimer returns the decision loop's timer, set for restEvery: a
// kernel timer with KernelTimer (a Go timer when the kernel gives none).
func (n *Node) loopTimer() clock.Timer {
	if n.cfg.KernelTimer {
		t, err := clock.NewKernelTimer(restEvery)
		if err == nil {
			return t
		}
		n.log.Warn("decision loop on a Go timer: more wake-ups at rest", "err", err)
	}
	return n.clock.NewTimer(restEvery)
}

// Poke asks for a decision now rather than at the next one due: the daemon
// calls it when the local health changes, the node itself when a heartbeat
// changes the peer's view. It never blocks; pokes while a decision runs
// fold into one.
func (n *Node) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// decideEvery was the decision period of the fixed tick, a quarter of
// the heartbeat interval (at least 10ms). The loop decides on events now,
// but Policy.TakeoverWait keeps two of these as a margin for the peer's
// step-down, so that the timings the pair agreed on stay as they were.
func decideEvery(interval time.Duration) time.Duration {
	return max(interval/4, 10*time.Millisecond)
}

// SetKeys replaces the heartbeat keys (a SIGHUP after the key files
// changed): heartbeats are signed with k.Current from the next one on and
// checked against k.Current and k.Next.
func (n *Node) SetKeys(k Keys) error {
	if err := n.tracker.SetKeys(k); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keyset = k
	return nil
}

func (n *Node) keys() Keys {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.keyset
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
	now := n.clock.Now()
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
	if c, ok := n.cfg.Transport.(Counted); ok {
		for i, drops := range c.Drops() {
			for reason, k := range drops {
				if i < len(st.Paths) {
					st.Paths[i].Drops[reason] += k
				}
				st.Drops[reason] += k
			}
		}
	}
	return st
}
