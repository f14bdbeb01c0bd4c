package failover_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
	"github.com/pbxha/pbxha/probe"
)

// The simulation runs two nodes for a few simulated minutes over the
// in-memory network with a manual clock. Each node is a small driver around
// PeerTracker and Decide; its actuators are recording fakes: the VIP is a
// flag, the PBX a health value a restart repairs, fencing powers the peer off.

const (
	simStep       = 50 * time.Millisecond
	simInterval   = 200 * time.Millisecond // heartbeat interval
	simRestart    = 800 * time.Millisecond // a PBX restart takes this long
	simHealthWarm = 400 * time.Millisecond // probes settle this long after start
)

var simKey = []byte("0123456789abcdef0123456789abcdef")

type simClock struct{ t time.Time }

func (c *simClock) now() time.Time { return c.t }

type record struct {
	at     time.Duration
	action failover.Action
	role   failover.Role
	epoch  uint64
	reason string
	alert  string
}

// simNode is one sidecar and its host.
type simNode struct {
	name string
	end  *failovertest.Endpoint
	pol  failover.Policy

	// host and process
	up       bool
	boot     failover.BootID
	seq      uint64
	started  time.Time
	nextHB   time.Time
	tracker  *failover.PeerTracker
	role     failover.Role
	epoch    uint64 // persisted: survives a restart
	holdsVIP bool

	// world, set by the scenario
	pbxBroken   bool // the PBX fails its probes until restarted
	brokenHard  bool // a restart does not repair it
	tieBreaker  bool
	maintenance bool
	request     failover.SwitchoverRequest
	fenceWorks  bool

	// derived local state
	failedSince time.Time
	eligSince   time.Time
	restartDone time.Time // zero when no restart is under way
	restarts    int
	fence       failover.FenceState
	retryAt     map[failover.Action]time.Time // as the node keeps it: a failed fence waits
	// what the node keeps to tell when the peer last heard it: its sent
	// heartbeats' times, the newest confirmation, the tie-breaker's last answer
	sent      map[uint64]time.Time
	confirmed time.Time
	peerBoot  failover.BootID
	tbAt      time.Time

	log []record
}

func newSimNode(name string, end *failovertest.Endpoint, pol failover.Policy) *simNode {
	return &simNode{name: name, end: end, pol: pol, tieBreaker: true, fenceWorks: true}
}

// start boots the sidecar (again): new boot id, role init, a fresh tracker.
func (n *simNode) start(t *testing.T, now time.Time) {
	tr, err := failover.NewPeerTracker(failover.TrackerConfig{Cluster: "sim", Node: n.name, Keys: failover.Keys{Current: simKey}, Paths: 2, DeadAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n.up, n.boot, n.seq, n.started, n.nextHB, n.tracker = true, failover.NewBootID(), 0, now, now, tr
	n.sent, n.confirmed, n.peerBoot = map[uint64]time.Time{}, time.Time{}, failover.BootID{}
	n.role, n.holdsVIP, n.restartDone, n.failedSince, n.fence = failover.RoleInit, false, time.Time{}, time.Time{}, failover.FenceUnknown
	n.eligSince = time.Time{}
	for { // drop what queued while the host was down
		select {
		case <-n.end.Recv():
			continue
		default:
		}
		break
	}
}

// crash loses the host: no heartbeats, no VIP.
func (n *simNode) crash() { n.up, n.holdsVIP = false, false }

func (n *simNode) health(now time.Time) probe.Health {
	switch {
	case now.Sub(n.started) < simHealthWarm:
		return probe.HealthUnknown
	case n.pbxBroken:
		return probe.HealthFailed
	}
	return probe.Healthy
}

func (n *simNode) receive(t *testing.T, now time.Time) {
	for {
		select {
		case p := <-n.end.Recv():
			if _, err := n.tracker.Receive(p.Path, p.Data, now); err != nil && failover.DropReason(err) != "replay" {
				t.Fatalf("%s: valid traffic dropped: %v", n.name, err)
			}
		default:
			return
		}
	}
}

func (n *simNode) heartbeat(t *testing.T, now time.Time, d failover.Decision) {
	if now.Before(n.nextHB) {
		return
	}
	n.nextHB = now.Add(simInterval)
	n.seq++
	dbRole := failover.DBStandby
	if n.role == failover.RolePrimary {
		dbRole = failover.DBPrimary
	}
	view := n.tracker.View(now)
	n.sent[n.seq] = now
	b, err := failover.Encode(simKey, failover.Heartbeat{
		Cluster: "sim", Node: n.name, Boot: n.boot, Seq: n.seq, Epoch: n.epoch, Sent: now,
		Role: n.role, Health: n.health(now), DB: dbRole, WAL: 1 << 20, Maintenance: n.maintenance,
		Eligible: d.Eligible, Switchover: n.request, HeardBoot: view.Boot, HeardSeq: view.Seq,
		StepDown: n.pol.StepDown,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.end.Send(b)
}

// step runs one decision and carries it out at once.
func (n *simNode) step(t *testing.T, now, t0 time.Time, peer *simNode) failover.Decision {
	if !n.restartDone.IsZero() && !now.Before(n.restartDone) {
		n.restartDone = time.Time{}
		if !n.brokenHard {
			n.pbxBroken = false
		}
	}
	h := n.health(now)
	if h != probe.HealthFailed {
		n.failedSince = time.Time{}
	} else if n.failedSince.IsZero() {
		n.failedSince = now
	}
	view := n.tracker.View(now)
	if view.Alive {
		n.fence = failover.FenceUnknown // fencing is per silent-peer episode
	}
	if view.Heard && view.Boot != n.peerBoot { // a new boot of the peer gets the time to hear this node
		n.peerBoot, n.confirmed = view.Boot, maxTime(n.confirmed, view.LastHeard)
	}
	if at, ok := n.sent[view.HeardSeq]; ok && view.HeardBoot == n.boot {
		n.confirmed = maxTime(n.confirmed, at)
	}
	if n.tieBreaker {
		n.tbAt = now
	}
	o := failover.Observation{
		Now: now, Node: n.name, Role: n.role, Epoch: n.epoch, Health: h, Maintenance: n.maintenance,
		StartedAt: n.started, Peer: view, DB: failover.DBStandby, WAL: 1 << 20, TieBreakerOK: n.tieBreaker,
		Fence: n.fence, RestartPending: !n.restartDone.IsZero(), FailedSince: n.failedSince, Switchover: n.request,
		EligibleSince: n.eligSince, RetryAt: n.retryAt, ConfirmedAt: n.confirmed, TieBreakerAt: n.tbAt,
	}
	d := failover.Decide(o, n.pol)
	n.eligSince = d.EligibleSince(n.eligSince, now)
	if d.NextEpoch < n.epoch {
		t.Fatalf("%s: epoch went down %d → %d", n.name, n.epoch, d.NextEpoch)
	}
	n.epoch = d.NextEpoch // persisted before acting
	switch d.Action {
	case failover.ActionTakeOver:
		n.holdsVIP = true
	case failover.ActionRelease, failover.ActionStepDown:
		n.holdsVIP = false
	case failover.ActionRestartPBX:
		n.restartDone = now.Add(simRestart)
		n.restarts++
	case failover.ActionFailback: // the node makes it a switchover request
		n.request = failover.SwitchoverRequest{Target: view.Node, ID: uint64(now.UnixNano())}
	case failover.ActionFencePeer:
		n.fence = failover.FenceFailed
		n.retryAt = map[failover.Action]time.Time{failover.ActionFencePeer: now.Add(failover.DefaultRetryDelay)}
		if n.fenceWorks {
			peer.crash()
			n.fence = failover.FenceOK
		}
	}
	n.role = d.Role
	// The daemon clears a request once its target is primary.
	if r := n.request; r.Active() && ((r.Target == n.name && n.role == failover.RolePrimary) ||
		(r.Target == view.Node && view.Alive && view.Role == failover.RolePrimary)) {
		n.request = failover.SwitchoverRequest{}
	}
	if d.Action != failover.ActionNone || d.Alert != "" || len(n.log) == 0 || n.log[len(n.log)-1].role != d.Role {
		n.log = append(n.log, record{now.Sub(t0), d.Action, d.Role, d.NextEpoch, d.Reason, d.Alert})
	}
	return d
}

func (n *simNode) history() string {
	var b strings.Builder
	for _, r := range n.log {
		fmt.Fprintf(&b, "  %s %7s %-11s %-8s e%d %s %s\n", n.name, r.at.Round(time.Millisecond), r.action, r.role, r.epoch, r.alert, r.reason)
	}
	return b.String()
}

func (n *simNode) did(a failover.Action) bool {
	for _, r := range n.log {
		if r.action == a {
			return true
		}
	}
	return false
}

// sim is one run: two nodes, the network, the clock, and scripted events.
type sim struct {
	t        *testing.T
	seed     uint64
	clock    *simClock
	t0       time.Time
	net      *failovertest.Network
	a, b     *simNode
	pathsUp  [2]bool
	lastHeal time.Duration // when paths last came back after all were down
	noVIP    time.Duration // how long no node has held the VIP, now
	maxNoVIP time.Duration // the longest such gap after the pair first formed
	formed   bool
	events   map[time.Duration]func()
	loss     float64
	started  bool
	el       time.Duration // simulated time reached
	both     time.Duration // how long both nodes have held the VIP, now
}

func newSim(t *testing.T, seed uint64, loss float64, pol failover.Policy) *sim {
	c := &simClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := &sim{t: t, seed: seed, clock: c, t0: c.t, lastHeal: -time.Hour, net: failovertest.NewNetwork(seed, 2, c.now), pathsUp: [2]bool{true, true}, events: map[time.Duration]func(){}, loss: loss}
	for p := range 2 {
		s.net.SetDropRate(p, loss)
		s.net.SetDelay(p, time.Duration(p)*time.Millisecond) // path 1 is a little slower
	}
	s.a = newSimNode("node-a", s.net.Endpoint(0), pol)
	s.b = newSimNode("node-b", s.net.Endpoint(1), pol)
	return s
}

func (s *sim) at(d time.Duration, f func()) { s.events[d] = f }

func (s *sim) setPath(p int, up bool) {
	if !s.pathsUp[0] && !s.pathsUp[1] && up {
		s.lastHeal = s.clock.t.Sub(s.t0)
	}
	s.pathsUp[p] = up
	if up {
		s.net.Connect(p)
	} else {
		s.net.Disconnect(p)
	}
}

func (s *sim) partition() { s.setPath(0, false); s.setPath(1, false) }
func (s *sim) heal()      { s.setPath(0, true); s.setPath(1, true) }

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d at %s: %s\n%s%s", s.seed, s.clock.t.Sub(s.t0), fmt.Sprintf(format, args...), s.a.history(), s.b.history())
}

// run advances the simulation to end (and may be called again to continue), checking the pair invariants after
// every step: while any heartbeat path works, two nodes never hold the VIP
// in the same epoch (except in the moments after a partition heals, until
// the first heartbeat crosses), and two VIP holders never last longer than
// it takes the higher epoch's heartbeat to arrive.
func (s *sim) run(end time.Duration) {
	if !s.started {
		s.started = true
		s.a.start(s.t, s.clock.t)
		s.b.start(s.t, s.clock.t)
	} else {
		s.el += simStep
	}
	for ; s.el <= end; s.el += simStep {
		el := s.el
		s.clock.t = s.t0.Add(el)
		if f := s.events[el]; f != nil {
			f()
		}
		s.net.Deliver()
		nodes := []*simNode{s.a, s.b}
		decisions := map[*simNode]failover.Decision{}
		for i, n := range nodes {
			if !n.up {
				continue
			}
			n.receive(s.t, s.clock.t)
			decisions[n] = n.step(s.t, s.clock.t, s.t0, nodes[1-i])
		}
		for _, n := range nodes {
			if n.up {
				n.heartbeat(s.t, s.clock.t, decisions[n])
			}
		}
		anyPath := s.pathsUp[0] || s.pathsUp[1]
		sinceHeal := el - s.lastHeal
		if s.a.holdsVIP && s.b.holdsVIP && anyPath {
			s.both += simStep
			if s.a.epoch == s.b.epoch && sinceHeal > 2*time.Second {
				s.fail("two primaries hold the VIP in epoch %d while a path works", s.a.epoch)
			}
			if s.both > 3*time.Second {
				s.fail("two primaries (epochs %d and %d) for %s while a path works", s.a.epoch, s.b.epoch, s.both)
			}
		} else {
			s.both = 0
		}
		if s.a.holdsVIP || s.b.holdsVIP {
			s.formed, s.noVIP = true, 0
		} else if s.formed {
			s.noVIP += simStep
			s.maxNoVIP = max(s.maxNoVIP, s.noVIP)
		}
	}
	s.el = end
}

func (s *sim) primary() *simNode {
	switch {
	case s.a.holdsVIP && !s.b.holdsVIP:
		return s.a
	case s.b.holdsVIP && !s.a.holdsVIP:
		return s.b
	}
	return nil
}

func (s *sim) wantPrimary(n *simNode) {
	s.t.Helper()
	if p := s.primary(); p != n {
		name := "none or both"
		if p != nil {
			name = p.name
		}
		s.fail("got primary %s, want %s", name, n.name)
	}
	if n.role != failover.RolePrimary {
		s.fail("%s holds the VIP in role %s", n.name, n.role)
	}
}

func (s *sim) wantGapAtMost(d time.Duration) {
	s.t.Helper()
	if s.maxNoVIP > d {
		s.fail("got the service without a primary for %s, want at most %s", s.maxNoVIP, d)
	}
}

// simPolicy is the default policy with node-a preferred, so the pair forms
// with node-a primary.
func simPolicy() failover.Policy {
	p := failover.DefaultPolicy()
	p.PreferredNode = "node-a"
	return p
}

// TestSimulation runs every scenario over many seeds with 10% packet loss on
// both paths.
func TestSimulation(t *testing.T) {
	seeds := uint64(60)
	if testing.Short() {
		seeds = 12
	}
	for _, sc := range simScenarios {
		t.Run(sc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= seeds; seed++ {
				pol := simPolicy()
				if sc.policy != nil {
					sc.policy(&pol)
				}
				s := newSim(t, seed, 0.10, pol)
				sc.run(s)
			}
		})
	}
}

var simScenarios = []struct {
	name   string
	policy func(p *failover.Policy)
	run    func(s *sim)
}{
	{"pair forms with the preferred node primary", nil, func(s *sim) {
		s.run(10 * time.Second)
		s.wantPrimary(s.a)
		if s.b.role != failover.RoleStandby || s.a.epoch != 1 || s.b.epoch != 1 {
			s.fail("got node-b %s, epochs %d/%d, want standby and epoch 1 on both", s.b.role, s.a.epoch, s.b.epoch)
		}
	}},
	{"primary service fails: VIP moves first, old primary restarts as standby", nil, func(s *sim) {
		s.at(10*time.Second, func() { s.a.pbxBroken = true })
		s.run(20 * time.Second)
		s.wantPrimary(s.b)
		s.wantGapAtMost(1500 * time.Millisecond)
		if s.a.role != failover.RoleStandby || s.a.pbxBroken || s.a.restarts == 0 {
			s.fail("got node-a %s broken=%v restarts=%d, want a repaired standby", s.a.role, s.a.pbxBroken, s.a.restarts)
		}
		if s.b.epoch != 2 {
			s.fail("got node-b epoch %d, want 2", s.b.epoch)
		}
	}},
	{"restart_first: a quick restart keeps the primary", func(p *failover.Policy) { p.Mode = failover.RestartFirst }, func(s *sim) {
		s.at(10*time.Second, func() { s.a.pbxBroken = true })
		s.run(20 * time.Second)
		s.wantPrimary(s.a)
		if s.b.did(failover.ActionTakeOver) || s.a.restarts == 0 {
			s.fail("got node-b takeover=%v node-a restarts=%d, want a local restart only", s.b.did(failover.ActionTakeOver), s.a.restarts)
		}
	}},
	{"restart_first: a restart that does not help releases after the grace", func(p *failover.Policy) {
		p.Mode, p.RestartGrace = failover.RestartFirst, 3*time.Second
	}, func(s *sim) {
		s.at(10*time.Second, func() { s.a.pbxBroken, s.a.brokenHard = true, true })
		s.run(25 * time.Second)
		s.wantPrimary(s.b)
		s.wantGapAtMost(4500 * time.Millisecond)
	}},
	{"primary fails with no healthy standby: keeps the VIP", nil, func(s *sim) {
		s.at(5*time.Second, func() { s.b.pbxBroken, s.b.brokenHard = true, true })
		s.at(10*time.Second, func() { s.a.pbxBroken, s.a.brokenHard = true, true })
		s.run(20 * time.Second)
		s.wantPrimary(s.a)
		s.wantGapAtMost(0)
	}},
	{"primary node lost, comes back as standby", nil, func(s *sim) {
		s.at(10*time.Second, func() { s.a.crash() })
		s.at(20*time.Second, func() { s.a.start(s.t, s.clock.t) })
		s.run(30 * time.Second)
		s.wantPrimary(s.b)
		s.wantGapAtMost(2 * time.Second)
		if s.a.role != failover.RoleStandby {
			s.fail("got node-a %s after its return, want standby (failback off)", s.a.role)
		}
	}},
	{"primary node lost, fence first", func(p *failover.Policy) { p.NeedFence = true }, func(s *sim) {
		s.at(10*time.Second, func() { s.a.crash() })
		s.run(20 * time.Second)
		s.wantPrimary(s.b)
		if !s.b.did(failover.ActionFencePeer) {
			s.fail("got no fence before the takeover, want one")
		}
	}},
	{"fence fails: no takeover", func(p *failover.Policy) { p.NeedFence = true }, func(s *sim) {
		s.at(5*time.Second, func() { s.b.fenceWorks = false })
		s.at(10*time.Second, func() { s.a.crash() })
		s.run(20 * time.Second)
		if s.b.holdsVIP || s.b.did(failover.ActionTakeOver) {
			s.fail("got node-b primary after a failed fence, want it to wait")
		}
	}},
	{"partition, standby reaches the tie-breaker: takes over, lower epoch releases on heal", nil, func(s *sim) {
		s.at(10*time.Second, s.partition)
		s.at(20*time.Second, s.heal)
		s.run(30 * time.Second)
		s.wantPrimary(s.b)
		if !s.a.did(failover.ActionRelease) {
			s.fail("got no release on node-a after the heal, want one")
		}
		alert := false
		for _, r := range append(s.a.log, s.b.log...) {
			alert = alert || r.alert == event.SplitBrain
		}
		if !alert {
			s.fail("got no split_brain alert, want one")
		}
	}},
	{"partition, standby cut off from the tie-breaker: never takes over", nil, func(s *sim) {
		s.at(10*time.Second, func() { s.partition(); s.b.tieBreaker = false })
		s.at(20*time.Second, func() { s.heal(); s.b.tieBreaker = true })
		s.run(30 * time.Second)
		s.wantPrimary(s.a)
		if s.b.did(failover.ActionTakeOver) {
			s.fail("got a takeover by node-b without a tie-breaker")
		}
	}},
	{"one path lost: an alert, not a failover", nil, func(s *sim) {
		s.at(10*time.Second, func() { s.setPath(0, false) })
		s.run(20 * time.Second)
		s.wantPrimary(s.a)
		now := s.clock.t
		if s.b.tracker.PathAlive(0, now) || !s.b.tracker.PathAlive(1, now) || !s.b.tracker.Alive(now) {
			s.fail("got paths %+v, want path 0 dead, path 1 and the peer alive", s.b.tracker.Paths(now))
		}
	}},
	{"healed split brain after a partitioned start-up", nil, func(s *sim) {
		s.partition()
		s.at(10*time.Second, s.heal)
		s.run(20 * time.Second)
		if !s.a.did(failover.ActionTakeOver) || !s.b.did(failover.ActionTakeOver) {
			s.fail("got no takeover on both sides while partitioned, want both")
		}
		s.wantPrimary(s.a) // equal epochs: the preferred node stays
	}},
	{"maintenance freezes both nodes", nil, func(s *sim) {
		s.at(8*time.Second, func() { s.a.maintenance, s.b.maintenance = true, true })
		s.at(10*time.Second, func() { s.a.pbxBroken, s.a.brokenHard = true, true })
		s.at(20*time.Second, func() { s.a.maintenance, s.b.maintenance = false, false })
		s.run(30 * time.Second)
		s.wantPrimary(s.b)
		for _, n := range []*simNode{s.a, s.b} {
			for _, r := range n.log {
				if r.at > 8*time.Second+time.Second && r.at < 20*time.Second && r.action != failover.ActionNone {
					s.fail("%s did %s at %s during maintenance", n.name, r.action, r.at)
				}
			}
		}
	}},
	{"planned switchover asked on the standby", nil, func(s *sim) {
		s.at(10*time.Second, func() { s.b.request = failover.SwitchoverRequest{Target: "node-b", ID: 7} })
		s.run(20 * time.Second)
		s.wantPrimary(s.b)
		s.wantGapAtMost(1500 * time.Millisecond)
		if s.a.role != failover.RoleStandby {
			s.fail("got node-a %s, want standby", s.a.role)
		}
	}},
	{"failback to the preferred node after the delay", func(p *failover.Policy) {
		p.Failback, p.FailbackDelay = failover.FailbackAuto, 5*time.Second
	}, func(s *sim) {
		s.at(10*time.Second, func() { s.a.crash() })
		s.at(15*time.Second, func() { s.a.start(s.t, s.clock.t) })
		s.run(20 * time.Second)
		s.wantPrimary(s.b) // not yet: node-a healthy for less than the delay
		s.run(35 * time.Second)
		s.wantPrimary(s.a)
	}},
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
