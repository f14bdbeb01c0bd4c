package etcdha_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxha/pbxha/act/acttest"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/coord"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/etcdha"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/etcdtest"
)

// proxy forwards one node's etcd connections to a member; Cut makes it a
// black hole (bytes are swallowed, nothing is closed), like a cable pulled
// between the node and etcd.
type proxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", testenv.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	if p.cut.Load() {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, s)
	p.mu.Unlock()
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				src.Close()
				return
			}
			if p.cut.Load() {
				continue // swallowed
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go cp(s, c)
	cp(c, s)
}

// heal closes every connection so that the client dials again through a
// working proxy.
func (p *proxy) heal() {
	p.cut.Store(false)
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.heal()
}

// node is one running runtime with faked resources.
type node struct {
	name  string
	rt    *etcdha.Runtime
	world *acttest.World
	px    *proxy
	state atomic.Value // []probe.CheckState
	maint atomic.Bool
	stop  context.CancelFunc
	done  chan struct{}
}

type nodeOpts struct {
	priority int
	ttl      time.Duration
	db       bool
}

func startNode(t *testing.T, etcdURL, name string, o nodeOpts) *node {
	t.Helper()
	u, err := url.Parse(etcdURL)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, world: acttest.New(nil), px: newProxy(t, u.Host), done: make(chan struct{})}
	n.state.Store([]probe.CheckState{{Name: "sip", Kind: probe.KindSIP, Critical: true, State: probe.OK}})
	if o.ttl == 0 {
		o.ttl = time.Second
	}
	if o.priority == 0 {
		o.priority = 100
	}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
	}
	res := n.world.Resources()
	if !o.db {
		res.DB = nil
	}
	rt, err := etcdha.New(etcdha.Config{
		Cluster: "c1", Node: name, Endpoints: []string{n.px.url()}, Priority: o.priority,
		Policy: coord.Policy{LeaseTTL: o.ttl, StepDown: 100 * time.Millisecond, Tick: 50 * time.Millisecond,
			MaxLagBytes: 1 << 20, AllowLag: true, FailbackDelay: time.Second},
		Resources: res, LeaveTimeout: 5 * time.Second,
		States: func() []probe.CheckState { return n.state.Load().([]probe.CheckState) },
		Checks: func() []probe.Check { return nil }, Maintenance: n.maint.Load,
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.rt = rt
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	go func() { defer close(n.done); rt.Run(ctx) }()
	t.Cleanup(n.shutdown)
	return n
}

func (n *node) shutdown() {
	n.stop()
	<-n.done
}

func (n *node) role() string { r, _ := n.rt.Status(); return r }

func (n *node) setHealth(s probe.Status) {
	n.state.Store([]probe.CheckState{{Name: "sip", Kind: probe.KindSIP, Critical: true, State: s}})
	n.rt.Poke()
}

// leaders returns the nodes whose role is primary.
func leaders(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		if n.role() == failover.RolePrimary.String() {
			out = append(out, n.name)
		}
	}
	return out
}

func waitLeader(t *testing.T, nodes []*node, within time.Duration) *node {
	t.Helper()
	var got *node
	testenv.WaitForReason(t, within, "one leader", func() (bool, string) {
		l := leaders(nodes)
		if len(l) != 1 {
			return false, "primaries: " + join(l)
		}
		for _, n := range nodes {
			if n.name == l[0] {
				got = n
			}
		}
		return got.world.HoldsVIP(), "the leader does not hold the VIP yet"
	})
	return got
}

func join(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}

func startCluster(t *testing.T, o nodeOpts, names ...string) (*etcdtest.Cluster, []*node) {
	t.Helper()
	c := etcdtest.Start(t, etcdtest.Options{})
	var nodes []*node
	for _, name := range names {
		nodes = append(nodes, startNode(t, c.Endpoints()[0], name, o))
	}
	return c, nodes
}

// TestElectionAndStatus: three nodes elect one leader, which takes the
// resources; every node's status lists all three.
func TestElectionAndStatus(t *testing.T) {
	_, nodes := startCluster(t, nodeOpts{}, "n1", "n2", "n3")
	l := waitLeader(t, nodes, 10*time.Second)
	for _, n := range nodes {
		if n != l && n.world.HoldsVIP() {
			t.Errorf("got %s holding the VIP beside leader %s", n.name, l.name)
		}
	}
	testenv.WaitForReason(t, 5*time.Second, "every node lists three", func() (bool, string) {
		for _, n := range nodes {
			_, st := n.rt.Status()
			if len(st.Nodes) != 3 {
				return false, n.name + " lists " + nodesText(st.Nodes)
			}
			if st.Etcd == nil || st.Etcd.Leader != l.name {
				return false, n.name + " does not name the leader"
			}
		}
		return true, ""
	})
	_, st := l.rt.Status()
	if st.Epoch != 1 {
		t.Errorf("got epoch %d, want 1", st.Epoch)
	}
}

func nodesText(ns []control.ClusterNode) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Node+"="+n.Role)
	}
	return join(s)
}

// TestPriorityWins: the node of the highest priority leads.
func TestPriorityWins(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	a := startNode(t, c.Endpoints()[0], "n1", nodeOpts{priority: 10})
	b := startNode(t, c.Endpoints()[0], "n2", nodeOpts{priority: 200})
	// n2 published itself before the vacancy is a TTL old: it leads.
	l := waitLeader(t, []*node{a, b}, 10*time.Second)
	if l.name != "n2" {
		t.Errorf("got leader %s, want n2 (priority 200)", l.name)
	}
}

// TestLeaderCutOffStepsDownFirst: the leader loses etcd. It steps down
// (database first, then the VIP) before its lease can expire, and another
// node takes over only after: the old leader's last resource went before
// the new leader's first came (zero overlap), and the step-down came
// before the lease's TTL after the last renewal.
func TestLeaderCutOffStepsDownFirst(t *testing.T) {
	_, nodes := startCluster(t, nodeOpts{db: true}, "n1", "n2", "n3")
	for _, n := range nodes {
		n.world.SetDBRole(dbrole.RoleStandby)
	}
	old := waitLeader(t, nodes, 10*time.Second)
	if !old.world.Writable() {
		t.Fatalf("leader %s: database not promoted", old.name)
	}
	_, st := old.rt.Status()
	cutAt := time.Now()
	old.px.cut.Store(true)
	lastRenewal := *st.Etcd.RenewedAt
	var next *node
	testenv.WaitForReason(t, 10*time.Second, "a new leader", func() (bool, string) {
		for _, n := range nodes {
			if n != old && n.role() == "primary" && n.world.HoldsVIP() {
				next = n
				return true, ""
			}
		}
		return false, "old leader " + old.name + " is " + old.role()
	})
	if old.world.Writable() || old.world.HoldsVIP() {
		t.Fatalf("old leader %s still writable or holding the VIP", old.name)
	}
	// The old leader's last step (database stopped or demoted, VIP down)
	// and the new leader's first (database promoted).
	var oldEnd, newStart time.Time
	for _, c := range old.world.Calls() {
		if c.Op == acttest.VIPDown || c.Op == acttest.DBStop || c.Op == acttest.DBDemote {
			if c.End.After(cutAt) {
				oldEnd = c.End
			}
		}
	}
	for _, c := range next.world.Calls() {
		if c.Op == acttest.DBPromote && c.End.After(cutAt) && newStart.IsZero() {
			newStart = c.Start
		}
	}
	if oldEnd.IsZero() || newStart.IsZero() {
		t.Fatalf("got old end %v, new start %v: missing steps (%v / %v)", oldEnd, newStart, old.world.Ops(), next.world.Ops())
	}
	gap := newStart.Sub(oldEnd)
	t.Logf("cut at +0; old leader %s stopped serving at +%s; new leader %s promoted at +%s: gap %s",
		old.name, oldEnd.Sub(cutAt).Round(time.Millisecond), next.name, newStart.Sub(cutAt).Round(time.Millisecond), gap.Round(time.Millisecond))
	if gap <= 0 {
		t.Errorf("got an overlap of %s: the new leader promoted before the old one stopped", -gap)
	}
	if oldEnd.After(lastRenewal.Add(time.Second)) {
		t.Errorf("got the step-down done %s after the last renewal we saw, want before the TTL (1s)", oldEnd.Sub(lastRenewal))
	}
	_, ost := old.rt.Status()
	if ost.Etcd.Error == "" {
		t.Errorf("got no etcd error in the cut-off leader's status")
	}
	// Healed, the old leader follows.
	old.px.heal()
	testenv.WaitForReason(t, 10*time.Second, "the old leader follows", func() (bool, string) {
		_, st := old.rt.Status()
		return old.role() == "standby" && st.Etcd.Leader == next.name && st.Etcd.Error == "", old.role() + ", leader " + st.Etcd.Leader
	})
}

// TestLostQuorumStepsDown: etcd itself stops answering (the one member
// frozen): the leader steps down before its lease can expire and nobody
// leads until etcd answers again.
func TestLostQuorumStepsDown(t *testing.T) {
	c, nodes := startCluster(t, nodeOpts{}, "n1", "n2")
	old := waitLeader(t, nodes, 10*time.Second)
	c.Freeze(0)
	frozen := true
	defer func() {
		if frozen {
			c.Thaw(0)
		}
	}()
	testenv.WaitForReason(t, 5*time.Second, "no leader", func() (bool, string) {
		l := leaders(nodes)
		return len(l) == 0 && !old.world.HoldsVIP(), "primaries: " + join(l)
	})
	c.Thaw(0)
	frozen = false
	waitLeader(t, nodes, 15*time.Second)
}

// TestFailedLeaderHandsOver: the leader's PBX fails; a healthy member
// takes over, after the leader released.
func TestFailedLeaderHandsOver(t *testing.T) {
	_, nodes := startCluster(t, nodeOpts{}, "n1", "n2", "n3")
	old := waitLeader(t, nodes, 10*time.Second)
	old.setHealth(probe.Failed)
	testenv.WaitForReason(t, 10*time.Second, "another leader", func() (bool, string) {
		l := leaders(nodes)
		return len(l) == 1 && l[0] != old.name, "primaries: " + join(l)
	})
	if old.world.HoldsVIP() {
		t.Errorf("got the failed leader %s still holding the VIP", old.name)
	}
}

// TestSwitchoverAndMaintenance: a planned switchover to a named node,
// then maintenance on one node freezes the cluster: a failed leader keeps
// the service.
func TestSwitchoverAndMaintenance(t *testing.T) {
	_, nodes := startCluster(t, nodeOpts{}, "n1", "n2", "n3")
	old := waitLeader(t, nodes, 10*time.Second)
	var target *node
	for _, n := range nodes {
		if n != old {
			target = n
			break
		}
	}
	// Every member must be seen by the node asked.
	testenv.WaitFor(t, 5*time.Second, "three members", func() bool { _, st := old.rt.Status(); return len(st.Nodes) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := old.rt.Switchover(ctx, target.name, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "done" || res.Primary != target.name {
		t.Fatalf("got %s, primary %s, want done, %s (%s)", res.Outcome, res.Primary, target.name, res.Reason)
	}
	t.Logf("switchover in %.1f ms: %+v", res.TookMS, res.Timeline)
	waitLeader(t, nodes, 5*time.Second)
	if l := leaders(nodes); len(l) != 1 || l[0] != target.name {
		t.Fatalf("got primaries %v, want %s", l, target.name)
	}
	// Maintenance on a standby freezes the leader too.
	old.maint.Store(true)
	testenv.WaitFor(t, 5*time.Second, "maintenance seen", func() bool {
		_, st := target.rt.Status()
		return contains(st.Reason, "maintenance")
	})
	target.setHealth(probe.Failed)
	time.Sleep(time.Second) // nothing may happen: a bounded wait for a non-event
	if l := leaders(nodes); len(l) != 1 || l[0] != target.name {
		t.Fatalf("got primaries %v in maintenance, want %s kept", l, target.name)
	}
	old.maint.Store(false)
	testenv.WaitForReason(t, 10*time.Second, "a new leader after maintenance", func() (bool, string) {
		l := leaders(nodes)
		return len(l) == 1 && l[0] != target.name, "primaries: " + join(l)
	})
}

// TestJoinAndLeave: a node that stops as leader hands over at once (its
// lease revoked); a new node joins and shows in status.
func TestJoinAndLeave(t *testing.T) {
	c, nodes := startCluster(t, nodeOpts{ttl: 5 * time.Second}, "n1", "n2")
	old := waitLeader(t, nodes, 10*time.Second)
	stopped := time.Now()
	old.shutdown()
	rest := []*node{}
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	waitLeader(t, rest, 10*time.Second)
	if took := time.Since(stopped); took > 3*time.Second {
		t.Errorf("got a takeover %s after the leader stopped, want well under the 5s TTL (lease revoked)", took)
	}
	n3 := startNode(t, c.Endpoints()[0], "n3", nodeOpts{ttl: 5 * time.Second})
	testenv.WaitFor(t, 10*time.Second, "n3 listed", func() bool {
		_, st := rest[0].rt.Status()
		for _, n := range st.Nodes {
			if n.Node == "n3" && n.Role == "standby" {
				return true
			}
		}
		return false
	})
	if n3.role() != "standby" {
		t.Errorf("got n3 %s, want standby", n3.role())
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestQuietAtRest: a cluster at rest decides on events and at deadlines,
// not on a cadence: over two seconds with nothing happening, each node
// decides a few times (its rest wake-up once a second, the lease's
// step-down point pushed on by renewals), where a 50ms ticker decided 40
// times — and the leader keeps leading.
func TestQuietAtRest(t *testing.T) {
	_, nodes := startCluster(t, nodeOpts{ttl: 2 * time.Second}, "n1", "n2", "n3")
	l := waitLeader(t, nodes, 10*time.Second)
	// Let the start settle: every member listed by every node.
	testenv.WaitFor(t, 5*time.Second, "every node lists three", func() bool {
		for _, n := range nodes {
			if _, st := n.rt.Status(); len(st.Nodes) != 3 {
				return false
			}
		}
		return true
	})
	before := make([]uint64, len(nodes))
	for i, n := range nodes {
		before[i] = n.rt.Decisions()
	}
	const rest = 2 * time.Second
	time.Sleep(rest) // a bounded wait over which nothing may happen
	for i, n := range nodes {
		// 2 rest wake-ups, give or take one, and a few for events a
		// loaded host may bring (a member key rewritten, a late renewal).
		got := n.rt.Decisions() - before[i]
		t.Logf("%s (%s): %d decisions in %s", n.name, n.role(), got, rest)
		if got > 8 {
			t.Errorf("%s: got %d decisions in %s at rest, want at most 8", n.name, got, rest)
		}
	}
	if got := leaders(nodes); len(got) != 1 || got[0] != l.name {
		t.Errorf("got primaries %v, want %s kept", got, l.name)
	}
}
