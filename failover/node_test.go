package failover_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
	"github.com/pbxha/pbxha/probe"
)

// The node tests run two real Nodes — their goroutines, tickers and epoch
// files — over the in-memory network inside a synctest bubble, so fake time
// passes only while every goroutine waits: minutes of pair life take
// milliseconds, and the outcome does not depend on the machine's load.

var nodeKey = []byte("0123456789abcdef0123456789abcdef")

// eventLog records a node's events.
type eventLog struct {
	mu  sync.Mutex
	evs []event.Event
}

func (l *eventLog) add(e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

func (l *eventLog) of(kind string) []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Event
	for _, e := range l.evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// testNode is one running Node with its recording fakes.
type testNode struct {
	name   string
	dir    string
	node   *failover.Node
	act    *failovertest.Actuators
	local  *failovertest.Local
	events *eventLog
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
}

func healthyLocal() failover.LocalState {
	return failover.LocalState{Health: probe.Healthy, TieBreakerOK: true, DB: failover.DBNone}
}

// pairPolicy is the default policy with node-a preferred.
func pairPolicy() failover.Policy {
	p := failover.DefaultPolicy()
	p.PreferredNode = "node-a"
	return p
}

// newTestNode builds (not starts) a node on endpoint end of net.
func newTestNode(t *testing.T, net *failovertest.Network, end int, name, dir string, mod func(*failover.NodeConfig)) *testNode {
	t.Helper()
	tn := &testNode{name: name, dir: dir, act: failovertest.NewActuators(time.Now),
		local: failovertest.NewLocal(healthyLocal()), events: &eventLog{}}
	cfg := failover.NodeConfig{
		Cluster: "pair", Node: name, Keys: failover.Keys{Current: nodeKey}, Policy: pairPolicy(), StateDir: dir,
		Transport: net.Endpoint(end), Tracker: failover.TrackerConfig{Paths: 2},
		Local: tn.local.Get, Act: tn.act, OnEvent: tn.events.add,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := failover.NewNode(cfg)
	if err != nil {
		t.Fatalf("NewNode %s: %v", name, err)
	}
	tn.node = n
	tn.local.Notify(n.Poke) // as the daemon pokes its node when a probe changes
	return tn
}

func (tn *testNode) start(ctx context.Context) {
	ctx, tn.cancel = context.WithCancel(ctx)
	tn.done = make(chan struct{})
	go func() { tn.err = tn.node.Run(ctx); close(tn.done) }()
}

func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	tn.cancel()
	<-tn.done
	if tn.err != nil {
		t.Errorf("%s: Run: got %v, want nil after cancel", tn.name, tn.err)
	}
}

func (tn *testNode) role() failover.Role { return tn.node.Status().Role }

func (tn *testNode) holds() bool { h, _ := tn.act.Holds(); return h }

// pair starts node-a and node-b on a two-path network.
type pair struct {
	net  *failovertest.Network
	a, b *testNode
}

func startPair(t *testing.T, mod func(*failover.NodeConfig)) *pair {
	t.Helper()
	net := failovertest.NewNetwork(1, 2, time.Now)
	p := &pair{net: net,
		a: newTestNode(t, net, 0, "node-a", t.TempDir(), mod),
		b: newTestNode(t, net, 1, "node-b", t.TempDir(), mod)}
	p.start(t)
	return p
}

// start runs both nodes until the test ends.
func (p *pair) start(t *testing.T) {
	p.a.start(t.Context())
	p.b.start(t.Context())
	t.Cleanup(func() {
		p.a.cancel()
		p.b.cancel()
		<-p.a.done
		<-p.b.done
	})
}

// formed waits for node-a primary at epoch 1 and node-b standby.
func (p *pair) formed(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "pair forms", func() bool {
		return p.a.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby &&
			p.a.node.Status().Epoch == 1 && p.b.node.Status().Epoch == 1
	})
}

// checkOneHolder fails if both nodes hold the resources at the same epoch.
func (p *pair) checkOneHolder(t *testing.T) {
	t.Helper()
	ha, ea := p.a.act.Holds()
	hb, eb := p.b.act.Holds()
	if ha && hb && ea == eb {
		t.Fatalf("got both nodes holding the resources at epoch %d, want one", ea)
	}
}

// waitFor advances the bubble's fake clock in 50ms steps until cond holds,
// failing after within (fake time). Inside synctest, time.Sleep only moves
// the fake clock once every goroutine is blocked: no real waiting.
//
// It stays here rather than using testenv.WaitFor: each step must call
// synctest.Wait to let the bubble's goroutines run before cond is read, and
// its steps are fixed in fake time, which the decision timings depend on;
// testenv.WaitFor polls real time and knows nothing of a bubble.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%s: got no, want within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hold advances fake time by d, checking cond at every step.
func hold(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		synctest.Wait()
		if !cond() {
			t.Fatalf("%s: broken at %s", what, time.Now().Format(time.RFC3339Nano))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNodePairForms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		start := time.Now()
		p.formed(t)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("pair formed after %s, want within 5s", took)
		}
		if h, e := p.a.act.Holds(); !h || e != 1 {
			t.Errorf("node-a holds=%v epoch=%d, want true 1", h, e)
		}
		if p.b.holds() || p.b.act.Count(failovertest.OpTakeOver) != 0 {
			t.Errorf("node-b took over, want it standby")
		}
		// node-a leaves init as soon as it hears node-b, and stands by
		// until it has been eligible long enough.
		rc := p.a.events.of(event.RoleChange)
		if len(rc) != 2 || rc[0].Details["to"] != "standby" || rc[1].Details["to"] != "primary" || !strings.Contains(rc[1].Details["reason"].(string), "taking over at epoch 1") {
			t.Fatalf("node-a role changes %+v, want to standby, then to primary with the takeover reason", rc)
		}
		st := p.a.node.Status()
		if h := st.History; len(h) != 2 || h[0].From != failover.RoleInit || h[1].To != failover.RolePrimary || h[1].Reason != rc[1].Details["reason"] || h[1].Epoch != 1 {
			t.Errorf("node-a history %+v, want init → standby → primary with the event's reason", h)
		}
		fo := p.a.events.of(event.Failover)
		if len(fo) != 1 || fo[0].Severity != event.Info || fo[0].Details["ready_ms"] == nil || fo[0].Node != "node-a" || fo[0].Cluster != "pair" {
			t.Errorf("node-a failover events %+v, want one info event (first primary) with a timeline", fo)
		}
		if rc := p.b.events.of(event.RoleChange); len(rc) != 1 || rc[0].Details["to"] != "standby" {
			t.Errorf("node-b role changes %+v, want one to standby", rc)
		}
		if st := p.b.node.Status(); !st.Peer.Alive || st.Peer.Node != "node-a" || st.Peer.Role != failover.RolePrimary || st.Accepted == 0 || !st.Paths[0].Alive || !st.Paths[1].Alive {
			t.Errorf("node-b status %+v, want node-a alive primary on both paths", st)
		}
	})
}

func TestNodePrimaryServiceFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthFailed })
		failedAt := time.Now()
		waitFor(t, 5*time.Second, "node-b primary at epoch 2", func() bool {
			p.checkOneHolder(t)
			return p.b.role() == failover.RolePrimary && p.b.node.Status().Epoch == 2
		})
		if took := time.Since(failedAt); took > 2*time.Second {
			t.Errorf("takeover took %s after the failure, want within 2s", took)
		}
		waitFor(t, 2*time.Second, "node-a restarts its PBX as standby", func() bool {
			return p.a.act.Count(failovertest.OpRestartPBX) > 0
		})
		if p.a.holds() || p.a.role() != failover.RoleStandby {
			t.Errorf("node-a holds=%v role=%s, want released, standby", p.a.holds(), p.a.role())
		}
		fo := p.b.events.of(event.Failover)
		if len(fo) != 1 || fo[0].Severity != event.Critical || fo[0].Details["epoch"] != uint64(2) || fo[0].Details["vip_up_ms"] == nil {
			t.Fatalf("node-b failover events %+v, want one critical at epoch 2 with a timeline", fo)
		}
		if !strings.Contains(fo[0].Details["reason"].(string), "released") {
			t.Errorf("failover reason %q, want it to say node-a released", fo[0].Details["reason"])
		}
		rel := p.a.act.Calls()
		if c := rel[len(rel)-1]; c.Op != failovertest.OpRestartPBX && c.Op != failovertest.OpRelease {
			t.Errorf("node-a last call %+v, want release or restart", c)
		}
		// The restart is rate-limited while the PBX stays failed.
		restarts := p.a.act.Count(failovertest.OpRestartPBX)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := p.a.act.Count(failovertest.OpRestartPBX) - restarts; got > 2 {
			t.Errorf("got %d restarts in 3s, want at most 2 (retry delay 2s)", got)
		}
	})
}

func TestNodePartition(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tieBreaker bool
	}{
		{"standby reaches the tie-breaker: takes over, lower epoch releases on heal", true},
		{"standby cut off from the tie-breaker: never takes over", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := startPair(t, nil)
				p.formed(t)
				p.b.local.Update(func(s *failover.LocalState) { s.TieBreakerOK = tc.tieBreaker })
				p.net.Partition()
				if !tc.tieBreaker {
					hold(t, 10*time.Second, "node-a alone primary", func() bool {
						return p.a.holds() && !p.b.holds() && p.b.act.Count(failovertest.OpTakeOver) == 0
					})
					if st := p.b.node.Status(); !strings.Contains(st.Reason, "no tie-breaker") {
						t.Errorf("node-b reason %q, want it to name the tie-breaker", st.Reason)
					}
					return
				}
				waitFor(t, 5*time.Second, "node-b takes over at epoch 2", func() bool {
					return p.b.role() == failover.RolePrimary && p.b.node.Status().Epoch == 2
				})
				if !p.a.holds() || p.a.role() != failover.RolePrimary {
					t.Fatalf("node-a holds=%v role=%s, want it still primary (a primary does not step down alone)", p.a.holds(), p.a.role())
				}
				if lost := p.b.events.of(event.PeerPathLost); len(lost) != 2 {
					t.Errorf("node-b got %d peer_path_lost events, want 2 (both paths)", len(lost))
				}
				p.net.Heal()
				waitFor(t, 3*time.Second, "node-a releases", func() bool {
					return p.a.role() == failover.RoleStandby && !p.a.holds()
				})
				if !p.b.holds() || p.b.role() != failover.RolePrimary {
					t.Errorf("node-b holds=%v role=%s, want it primary (higher epoch)", p.b.holds(), p.b.role())
				}
				// node-a always meets node-b as primary and releases for it;
				// node-b may hear node-a only after that release.
				if sb := p.a.events.of(event.SplitBrain); len(sb) != 1 {
					t.Errorf("node-a: got %d split_brain events, want 1", len(sb))
				}
				if sb := p.b.events.of(event.SplitBrain); len(sb) > 1 || (len(sb) == 1) != (p.b.act.Count(failovertest.OpReAnnounce) > 0) {
					t.Errorf("node-b: got %d split_brain events and %d re-announcements, want at most one alert, with a re-announcement", len(sb), p.b.act.Count(failovertest.OpReAnnounce))
				}
				// The release adopts node-b's epoch only at node-a's next
				// decision, which may come a tick after the release is seen.
				waitFor(t, time.Second, "node-a at epoch 2 after its release", func() bool { return p.a.node.Status().Epoch == 2 })
				if st := p.a.node.Status(); st.Epoch != 2 || !strings.Contains(st.History[len(st.History)-1].Reason, "split brain") {
					t.Errorf("node-a epoch %d history %+v, want epoch 2 and a split-brain release", st.Epoch, st.History)
				}
				waitFor(t, time.Second, "node-b reports both paths restored", func() bool {
					restored := 0
					for _, e := range p.b.events.of(event.PeerPathLost) {
						if e.Resolved {
							restored++
						}
					}
					return restored == 2
				})
			})
		})
	}
}

func TestNodeMaintenanceFreezes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.node.SetMaintenance(true)
		waitFor(t, time.Second, "node-b hears the maintenance flag", func() bool { return p.b.node.Status().Peer.Maintenance })
		p.a.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthFailed })
		before := len(p.a.act.Calls()) + len(p.b.act.Calls())
		hold(t, 10*time.Second, "frozen", func() bool {
			return len(p.a.act.Calls())+len(p.b.act.Calls()) == before && p.a.role() == failover.RolePrimary
		})
		if st := p.b.node.Status(); !strings.Contains(st.Reason, "maintenance") {
			t.Errorf("node-b reason %q, want maintenance", st.Reason)
		}
		p.a.node.SetMaintenance(false)
		waitFor(t, 5*time.Second, "node-b takes over after maintenance", func() bool {
			return p.b.role() == failover.RolePrimary
		})
	})
}

// A takeover that slows down (a database promotion taking seconds) must not
// silence the heartbeat: the old primary, released and healthy, would take
// the peer for dead and take over in the same epoch.
func TestNodeSlowTakeOverKeepsHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.b.act.Set(failovertest.OpTakeOver, func(ctx context.Context) error {
			select {
			case <-time.After(4 * time.Second):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		p.b.node.RequestSwitchover("node-b", false)
		waitFor(t, 10*time.Second, "node-b primary", func() bool {
			p.checkOneHolder(t)
			return p.b.role() == failover.RolePrimary && p.a.role() == failover.RoleStandby
		})
		if n := p.a.act.Count(failovertest.OpTakeOver); n != 1 {
			t.Errorf("node-a took over %d times, want 1 (the start-up)", n)
		}
	})
}

// A failed takeover leaves the node in its role: it undoes what was done
// with Release, reports the error in Status, and tries again after the retry
// delay at a higher epoch.
func TestNodeTakeOverErrorRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		var mu sync.Mutex
		fails := 2
		p.b.act.Set(failovertest.OpTakeOver, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if fails > 0 {
				fails--
				return errors.New("vip: add 192.0.2.10/24: permission denied")
			}
			return nil
		})
		p.a.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthFailed })
		waitFor(t, 10*time.Second, "node-b primary after retries", func() bool {
			p.checkOneHolder(t)
			if p.b.act.Count(failovertest.OpTakeOver) < 3 && p.b.role() == failover.RolePrimary {
				t.Fatalf("node-b claims primary after a failed takeover")
			}
			return p.b.role() == failover.RolePrimary
		})
		var takes []failovertest.Call
		undo := 0
		for _, c := range p.b.act.Calls() {
			switch c.Op {
			case failovertest.OpTakeOver:
				takes = append(takes, c)
			case failovertest.OpRelease:
				undo++
			}
		}
		if len(takes) != 3 || undo != 2 {
			t.Fatalf("got %d takeovers and %d releases, want 3 and 2", len(takes), undo)
		}
		for i := 1; i < len(takes); i++ {
			if gap := takes[i].At.Sub(takes[i-1].At); gap < failover.DefaultRetryDelay {
				t.Errorf("takeover %d came %s after the one before, want at least %s", i, gap, failover.DefaultRetryDelay)
			}
			if takes[i].Epoch <= takes[i-1].Epoch {
				t.Errorf("takeover %d at epoch %d, want above %d", i, takes[i].Epoch, takes[i-1].Epoch)
			}
		}
		st := p.b.node.Status()
		if !strings.Contains(st.LastError, "permission denied") || st.Epoch != takes[2].Epoch {
			t.Errorf("node-b last error %q epoch %d, want the takeover error and epoch %d", st.LastError, st.Epoch, takes[2].Epoch)
		}
		if got, _ := failover.LoadEpoch(p.b.dir); got != st.Epoch {
			t.Errorf("persisted epoch %d, want %d", got, st.Epoch)
		}
	})
}

func TestNodeEpochPersisted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.stop(t)
		p.b.stop(t)
		for _, n := range []*testNode{p.a, p.b} {
			if got, err := failover.LoadEpoch(n.dir); err != nil || got != 1 {
				t.Errorf("%s: LoadEpoch: got %d, %v, want 1", n.name, got, err)
			}
		}
		again := newTestNode(t, failovertest.NewNetwork(2, 2, time.Now), 0, "node-a", p.a.dir, nil)
		if st := again.node.Status(); st.Epoch != 1 || st.Role != failover.RoleInit {
			t.Errorf("restarted node-a: epoch %d role %s, want 1 init", st.Epoch, st.Role)
		}
	})
}

func TestNewNodeRejects(t *testing.T) {
	net := failovertest.NewNetwork(1, 2, time.Now)
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, failover.EpochFile), []byte("seven\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	act := failovertest.NewActuators(time.Now)
	valid := func() failover.NodeConfig {
		return failover.NodeConfig{Cluster: "pair", Node: "node-a", Keys: failover.Keys{Current: nodeKey}, Policy: pairPolicy(),
			StateDir: t.TempDir(), Transport: net.Endpoint(0), Tracker: failover.TrackerConfig{Paths: 2},
			Local: healthyLocal, Act: act}
	}
	for _, tc := range []struct {
		name string
		mod  func(c *failover.NodeConfig)
		want string
	}{
		{"no state dir", func(c *failover.NodeConfig) { c.StateDir = "" }, "state dir not set"},
		{"no transport", func(c *failover.NodeConfig) { c.Transport = nil }, "no transport"},
		{"no local state", func(c *failover.NodeConfig) { c.Local = nil }, "no local state"},
		{"no actuators", func(c *failover.NodeConfig) { c.Act = nil }, "no actuators"},
		{"interval not below dead_after", func(c *failover.NodeConfig) { c.Interval = time.Second }, "must be shorter than dead_after"},
		{"short key", func(c *failover.NodeConfig) { c.Keys.Current = []byte("short") }, "key is 5 bytes"},
		{"no paths", func(c *failover.NodeConfig) { c.Tracker.Paths = 0 }, "0 paths"},
		{"node name too long", func(c *failover.NodeConfig) { c.Node = strings.Repeat("n", 65) }, "node"},
		{"corrupt epoch file", func(c *failover.NodeConfig) { c.StateDir = corrupt }, filepath.Join(corrupt, failover.EpochFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mod(&c)
			_, err := failover.NewNode(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := failover.NewNode(valid()); err != nil {
		t.Errorf("valid config: got %v, want nil", err)
	}
}

func TestNodeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := failovertest.NewNetwork(1, 2, time.Now)
		n := newTestNode(t, net, 0, "node-a", t.TempDir(), nil)
		n.start(t.Context())
		synctest.Wait()
		if err := n.node.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second Run: got %v, want already running", err)
		}
		net.Endpoint(0).Close()
		<-n.done
		if n.err == nil || !strings.Contains(n.err.Error(), "transport closed") {
			t.Errorf("Run after the transport closed: got %v, want transport closed", n.err)
		}
		// Its one decision so far: wait in init to hear the peer.
		if st := n.node.Status(); st.Role != failover.RoleInit || !strings.Contains(st.Reason, "init_dead") {
			t.Errorf("got role %s reason %q, want init waiting for init_dead", st.Role, st.Reason)
		}
	})
}

// TestNodeReleaseOnStop stops the primary with ReleaseOnStop: it releases,
// and the standby takes over at once (well before dead_after), from a
// released peer — so a configured fence is not run. Without ReleaseOnStop
// the stopped primary keeps its resources and the standby only takes over
// once the silence reaches dead_after, after fencing.
func TestNodeReleaseOnStop(t *testing.T) {
	for _, tc := range []struct {
		name          string
		releaseOnStop bool
		within        time.Duration // node-b primary within this after the stop
		fences        int
	}{
		{"release on stop", true, 500 * time.Millisecond, 0},
		{"silent stop", false, 5 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := startPair(t, func(c *failover.NodeConfig) {
					c.ReleaseOnStop = tc.releaseOnStop
					c.Policy.NeedFence = true
				})
				p.formed(t)
				stopped := time.Now()
				p.a.stop(t)
				if held, _ := p.a.act.Holds(); held == tc.releaseOnStop {
					t.Errorf("stopped node-a holds the resources: got %v, want %v", held, !tc.releaseOnStop)
				}
				waitFor(t, tc.within, "node-b primary", func() bool { return p.b.role() == failover.RolePrimary })
				if tc.releaseOnStop && time.Since(stopped) >= failover.DefaultDeadAfter {
					t.Errorf("node-b took over %s after the stop, want before dead_after %s", time.Since(stopped), failover.DefaultDeadAfter)
				}
				if got := p.b.act.Count(failovertest.OpFence); got != tc.fences {
					t.Errorf("node-b fenced node-a %d times, want %d", got, tc.fences)
				}
				if got := p.a.role(); tc.releaseOnStop && got != failover.RoleStandby {
					t.Errorf("node-a's role after the stop: got %s, want standby", got)
				}
			})
		})
	}
}

// TestNodeDecidesWhenPeerTurnsDead: the standby takes over the moment its
// primary's silence reaches the takeover wait (dead_after, or longer so that
// a cut-off primary has stepped down), not at its next tick (node-b starts
// 7ms after node-a, so that its ticks do not fall on node-a's heartbeats).
func TestNodeDecidesWhenPeerTurnsDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := failovertest.NewNetwork(1, 2, time.Now)
		p := &pair{net: net,
			a: newTestNode(t, net, 0, "node-a", t.TempDir(), nil),
			b: newTestNode(t, net, 1, "node-b", t.TempDir(), nil)}
		p.a.start(t.Context())
		time.Sleep(7 * time.Millisecond)
		p.b.start(t.Context())
		t.Cleanup(func() {
			p.b.cancel()
			<-p.b.done
		})
		p.formed(t)
		p.a.stop(t) // silent, like a crash
		waitFor(t, 5*time.Second, "node-b primary", func() bool { return p.b.role() == failover.RolePrimary })
		st := p.b.node.Status()
		var became time.Time
		for _, h := range st.History {
			if h.To == failover.RolePrimary {
				became = h.At
			}
		}
		wait := pairPolicy().TakeoverWait(st.Peer.StepDown)
		if wait < failover.DefaultDeadAfter {
			t.Fatalf("takeover wait %s, want at least dead_after %s", wait, failover.DefaultDeadAfter)
		}
		if d := became.Sub(st.Peer.LastHeard); d < wait || d > wait+5*time.Millisecond {
			t.Errorf("node-b took over %s after it last heard node-a, want within 5ms after the takeover wait %s", d, wait)
		}
	})
}
