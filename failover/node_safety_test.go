package failover_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
	"github.com/pbxha/pbxha/probe"
)

// neverBoth fails when both nodes hold the resources at once, whatever the
// epochs: the overlap must be zero, not short.
func (p *pair) neverBoth(t *testing.T) bool {
	t.Helper()
	if p.a.holds() && p.b.holds() {
		t.Fatalf("both nodes hold the resources at %s", time.Now().Format("05.000"))
	}
	return true
}

// lastCall returns when tn last made a call of op (zero: never).
func lastCall(tn *testNode, op failovertest.Op) time.Time {
	var at time.Time
	for _, c := range tn.act.Calls() {
		if c.Op == op {
			at = c.At
		}
	}
	return at
}

// A primary cut off from its peer and from every tie-breaker steps down,
// database first, before the standby (which still reaches a tie-breaker)
// takes over: the two never hold the resources at once. When the links
// come back, the higher epoch stays primary and isolated is resolved.
func TestNodeIsolatedPrimaryStepsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.local.Update(func(s *failover.LocalState) { s.TieBreakerOK, s.TieBreakerAt = false, time.Now() })
		p.net.Partition()
		cut := time.Now()
		waitFor(t, 5*time.Second, "node-b primary", func() bool {
			p.neverBoth(t)
			return p.b.role() == failover.RolePrimary
		})
		stepped, took := lastCall(p.a, failovertest.OpStepDown), lastCall(p.b, failovertest.OpTakeOver)
		if stepped.IsZero() || !stepped.Before(took) {
			t.Fatalf("node-a stepped down at %s, node-b took over at %s: want the step-down first", stepped, took)
		}
		if d := stepped.Sub(cut); d > failover.DefaultIsolationAfter+300*time.Millisecond {
			t.Errorf("node-a stepped down %s after the cut, want about isolation_after %s", d, failover.DefaultIsolationAfter)
		}
		if p.a.role() != failover.RoleStandby || p.a.holds() {
			t.Errorf("node-a %s holds=%v, want standby without resources", p.a.role(), p.a.holds())
		}
		iso := p.a.events.of(event.Isolated)
		if len(iso) != 1 || iso[0].Severity != event.Critical || !strings.Contains(iso[0].Summary, "isolated") {
			t.Fatalf("node-a isolated events %+v, want one critical", iso)
		}
		if st := p.a.node.Status(); !strings.Contains(st.Reason, "isolated") && !strings.Contains(st.History[len(st.History)-1].Reason, "isolated") {
			t.Errorf("node-a's status does not say it was isolated: %q / %+v", st.Reason, st.History)
		}
		p.a.local.Update(func(s *failover.LocalState) { s.TieBreakerOK, s.TieBreakerAt = true, time.Time{} })
		p.net.Heal()
		waitFor(t, 5*time.Second, "isolated resolved", func() bool {
			for _, e := range p.a.events.of(event.Isolated) {
				if e.Resolved {
					return true
				}
			}
			return false
		})
		hold(t, 3*time.Second, "node-b stays primary, node-a standby", func() bool {
			p.neverBoth(t)
			return p.b.role() == failover.RolePrimary && p.a.role() == failover.RoleStandby
		})
	})
}

// Heartbeats from the primary to the standby are lost on every path, the
// other way they arrive: the primary learns from the standby's heartbeats
// that it is not heard, and steps down before the standby takes over.
func TestNodeOneWayCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.net.Block(0, 0)
		p.net.Block(1, 0)
		waitFor(t, 5*time.Second, "node-b primary", func() bool {
			p.neverBoth(t)
			return p.b.role() == failover.RolePrimary
		})
		if st := p.a.node.Status(); !strings.Contains(st.History[len(st.History)-1].Reason, "node-b is heard but had not heard this node") {
			t.Errorf("node-a's last role change %+v, want the one-way step-down", st.History[len(st.History)-1])
		}
		hold(t, 3*time.Second, "one primary", func() bool { p.neverBoth(t); return p.b.role() == failover.RolePrimary })
	})
}

// With the VIP witness, a standby whose primary went silent does not take
// over while another node still answers on the VIP (the heartbeat paths are
// cut, the primary still serves), and takes over once nobody answers.
func TestNodeWitness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.Policy.Witness = true })
		p.formed(t)
		p.b.act.SetWitness(failover.WitnessHeld)
		p.net.Partition()
		hold(t, 5*time.Second, "node-b stays standby while the VIP answers", func() bool {
			return p.b.role() == failover.RoleStandby && p.a.role() == failover.RolePrimary
		})
		if n := p.b.act.Count(failovertest.OpWitness); n < 3 {
			t.Errorf("node-b asked the witness %d times in 5s, want it asked again about every second", n)
		}
		if st := p.b.node.Status(); !strings.Contains(st.Reason, "another node still answers on the VIP") || st.Witness != failover.WitnessHeld {
			t.Errorf("node-b reason %q witness %s, want it to say the VIP answers", st.Reason, st.Witness)
		}
		p.a.stop(t) // node-a goes, and with it the VIP
		p.b.act.SetWitness(failover.WitnessAbsent)
		waitFor(t, 3*time.Second, "node-b primary", func() bool { return p.b.role() == failover.RolePrimary })
	})
}

// A primary whose VIP leaves its interface puts it back and raises
// vip_lost, resolved once it is back; a standby that finds the VIP on
// itself removes it.
func TestNodeVIPTracking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.local.Update(func(s *failover.LocalState) { s.VIP = failover.VIPAbsent })
		waitFor(t, time.Second, "node-a restores the VIP", func() bool { return p.a.act.Count(failovertest.OpRestoreVIP) == 1 })
		p.a.local.Update(func(s *failover.LocalState) { s.VIP = failover.VIPHeld })
		synctest.Wait()
		var got []string
		for _, e := range p.a.events.of(event.VIPLost) {
			got = append(got, e.Severity.String())
		}
		if len(got) != 2 || got[0] != event.Critical.String() || got[1] != event.Info.String() {
			t.Errorf("vip_lost events %q, want critical then info (resolved)", got)
		}
		p.b.local.Update(func(s *failover.LocalState) { s.VIP = failover.VIPHeld })
		waitFor(t, time.Second, "node-b drops the VIP", func() bool { return p.b.act.Count(failovertest.OpDropVIP) >= 1 })
		if p.b.role() != failover.RoleStandby {
			t.Errorf("node-b %s, want standby", p.b.role())
		}
	})
}

// Failback after the preferred node came back costs what a switchover
// costs: it becomes a switchover request the preferred node knows of, so it
// takes over the moment the other releases — not after its eligibility
// hold. The delay counts from its return: health heard before its outage
// does not count.
func TestNodeFailbackLossless(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) {
			c.Policy.Failback, c.Policy.FailbackDelay = failover.FailbackAuto, 3*time.Second
		})
		p.formed(t)
		p.net.Partition() // node-a's link is cut
		p.a.local.Update(func(s *failover.LocalState) { s.TieBreakerOK, s.TieBreakerAt = false, time.Now() })
		waitFor(t, 5*time.Second, "node-b primary", func() bool { p.neverBoth(t); return p.b.role() == failover.RolePrimary })
		p.a.local.Update(func(s *failover.LocalState) { s.TieBreakerOK, s.TieBreakerAt = true, time.Time{} })
		p.net.Heal()
		back := time.Now()
		waitFor(t, 10*time.Second, "node-a primary again", func() bool { p.neverBoth(t); return p.a.role() == failover.RolePrimary })
		released, took := lastCall(p.b, failovertest.OpRelease), lastCall(p.a, failovertest.OpTakeOver)
		if d := released.Sub(back); d < 3*time.Second {
			t.Errorf("node-b released %s after node-a came back, want after failback_delay 3s counted from the return", d)
		}
		if gap := took.Sub(released); gap < 0 || gap > 100*time.Millisecond {
			t.Errorf("node-a took over %s after node-b released, want at once (the switchover target skips the eligibility hold)", gap)
		}
		if sw := p.a.events.of(event.Switchover); len(sw) != 1 {
			t.Errorf("node-a's switchover events %+v, want one (a failback is a switchover)", sw)
		}
	})
}

// pair_unprotected is raised after its grace when the peer is gone, and
// resolved once it stands by again.
func TestNodePairUnprotected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.UnprotectedGrace = 2 * time.Second })
		p.formed(t)
		p.b.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthFailed })
		waitFor(t, 5*time.Second, "pair_unprotected raised", func() bool { return len(p.a.events.of(event.PairUnprotected)) == 1 })
		e := p.a.events.of(event.PairUnprotected)[0]
		if e.Severity != event.Warning || !strings.Contains(e.Details["reason"].(string), "not eligible") {
			t.Errorf("event %+v, want a warning naming the ineligible peer", e)
		}
		if st := p.a.node.Status(); !strings.Contains(st.Unprotected, "not eligible") {
			t.Errorf("status unprotected %q, want the reason", st.Unprotected)
		}
		p.b.local.Update(func(s *failover.LocalState) { s.Health = probe.Healthy })
		waitFor(t, 5*time.Second, "pair_unprotected resolved", func() bool {
			ev := p.a.events.of(event.PairUnprotected)
			return len(ev) == 2 && ev[1].Resolved
		})
		if st := p.a.node.Status(); st.Unprotected != "" {
			t.Errorf("status unprotected %q after recovery, want none", st.Unprotected)
		}
	})
}

// A node whose key no longer matches its peer's (one node changed its key
// file and reloaded) does not take over from a peer it cannot
// authenticate: the pair keeps its primary, and both raise
// heartbeat_auth_failed.
func TestNodeKeyMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		other := []byte("another key, 32 bytes long......")
		if err := p.b.node.SetKeys(failover.Keys{Current: other}); err != nil {
			t.Fatal(err)
		}
		hold(t, 5*time.Second, "node-a stays primary, node-b standby", func() bool {
			p.neverBoth(t)
			return p.a.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby
		})
		for _, n := range []*testNode{p.a, p.b} {
			if ev := n.events.of(event.HeartbeatAuthFailed); len(ev) != 1 || ev[0].Severity != event.Critical {
				t.Errorf("%s heartbeat_auth_failed events %+v, want one critical", n.name, ev)
			}
		}
		if st := p.b.node.Status(); !strings.Contains(st.Reason, "fail the MAC: it lives with another key") {
			t.Errorf("node-b reason %q, want the key mismatch", st.Reason)
		}
	})
}

// The documented key change never splits the pair: both nodes accept the
// new key beside the old (next_key_file, SIGHUP), then each signs with the
// new one in turn, then the old key goes. No heartbeat fails the MAC and
// the primary stays.
func TestNodeKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		old, next := nodeKey, []byte("the next key of the pair, 32 B..")
		steps := []struct {
			name string
			a, b failover.Keys
		}{
			{"both accept the new key", failover.Keys{Current: old, Next: next}, failover.Keys{Current: old, Next: next}},
			{"node-a signs with it", failover.Keys{Current: next, Next: old}, failover.Keys{Current: old, Next: next}},
			{"node-b signs with it", failover.Keys{Current: next, Next: old}, failover.Keys{Current: next, Next: old}},
			{"the old key goes", failover.Keys{Current: next}, failover.Keys{Current: next}},
		}
		for _, s := range steps {
			if err := p.a.node.SetKeys(s.a); err != nil {
				t.Fatal(err)
			}
			hold(t, 2*time.Second, s.name+": one node changed", func() bool {
				return p.a.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby && p.b.node.Status().Peer.Alive
			})
			if err := p.b.node.SetKeys(s.b); err != nil {
				t.Fatal(err)
			}
			hold(t, 2*time.Second, s.name+": both changed", func() bool {
				return p.a.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby && p.a.node.Status().Peer.Alive
			})
		}
		for _, n := range []*testNode{p.a, p.b} {
			if st := n.node.Status(); st.Drops["bad_mac"] != 0 {
				t.Errorf("%s: %d heartbeats failed the MAC during the rotation, want none", n.name, st.Drops["bad_mac"])
			}
		}
	})
}

// A release slower than the configured step-down budget raises the budget
// the node announces, so that its peer's takeover wait covers a step-down
// as slow as the ones measured.
func TestNodeMeasuredStepDownBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		configured := p.a.node.Status().StepDownBudget
		if got := p.b.node.Status().Peer.StepDown; got != configured {
			t.Fatalf("node-b hears node-a's budget %s, want the configured %s", got, configured)
		}
		const slow = 600 * time.Millisecond
		p.a.act.Set(failovertest.OpRelease, func(ctx context.Context) error {
			time.Sleep(slow)
			return nil
		})
		p.a.node.RequestSwitchover("node-b", false)
		waitFor(t, 10*time.Second, "node-b primary after the switchover", func() bool { return p.b.role() == failover.RolePrimary })
		want := time.Duration(float64(slow) * 1.25)
		if got := p.a.node.Status().StepDownBudget; got != want {
			t.Errorf("node-a's budget after a %s release: got %s, want %s", slow, got, want)
		}
		waitFor(t, 2*time.Second, "node-b hearing the new budget", func() bool { return p.b.node.Status().Peer.StepDown == want })
	})
}

// A primary whose sidecar restarts keeping the role (an upgrade) releases
// nothing and leaves a resume note; its peer holds off a takeover, fence
// and all, for restart_hold; the next process resumes as primary at the
// same epoch, and the peer, hearing it, stays standby.
func TestNodeRestartKeepsRole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.ReleaseOnStop, c.Policy.NeedFence = true, true })
		p.formed(t)
		p.a.node.KeepRoleOnStop()
		p.a.cancel()
		<-p.a.done
		if n := p.a.act.Count(failovertest.OpRelease) + p.a.act.Count(failovertest.OpStepDown); n != 0 || !p.a.holds() {
			t.Fatalf("node-a restarting: %d releases, holds %v; want none and the resources kept", n, p.a.holds())
		}
		hold(t, 3*time.Second, "node-b holding off while node-a restarts", func() bool {
			return p.b.role() == failover.RoleStandby && !p.b.holds() && p.b.act.Count(failovertest.OpFence) == 0
		})
		if r := p.b.node.Status().Reason; !strings.Contains(r, "restarting with the role kept") {
			t.Errorf("node-b's reason %q, want it to say node-a restarts", r)
		}
		if _, err := os.Stat(filepath.Join(p.a.dir, failover.ResumeFile)); err != nil {
			t.Fatalf("node-a left no resume note: %v", err)
		}
		a2 := newTestNode(t, p.net, 0, "node-a", p.a.dir, func(c *failover.NodeConfig) { c.Resume = true })
		a2.start(t.Context())
		t.Cleanup(func() { a2.cancel(); <-a2.done })
		if a2.role() != failover.RolePrimary {
			t.Fatalf("the resumed node-a is %s, want primary from the start", a2.role())
		}
		hold(t, 3*time.Second, "node-a resumed as primary, node-b standby", func() bool {
			return a2.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby && p.b.node.Status().Peer.Alive
		})
		if n := a2.act.Count(failovertest.OpTakeOver) + a2.act.Count(failovertest.OpStepDown) + p.b.act.Count(failovertest.OpTakeOver); n != 0 {
			t.Errorf("%d takeovers or step-downs around the restart, want none", n)
		}
		if e := a2.node.Status().Epoch; e != 1 {
			t.Errorf("epoch after the restart: got %d, want 1", e)
		}
	})
}

// A primary that stopped for a restart and does not come back is taken
// over from once restart_hold has passed.
func TestNodeRestartHoldEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.Policy.RestartHold = 4 * time.Second })
		p.formed(t)
		p.a.node.KeepRoleOnStop()
		stopped := time.Now()
		p.a.cancel()
		<-p.a.done
		waitFor(t, 10*time.Second, "node-b primary after the hold", func() bool { return p.b.role() == failover.RolePrimary })
		if d := time.Since(stopped); d < 4*time.Second {
			t.Errorf("node-b took over %s after node-a stopped, want no earlier than restart_hold 4s", d)
		}
	})
}

// lossyTransport reports datagrams lost unread on its first path, as the
// UDP transport does when a flood fills a heartbeat socket.
type lossyTransport struct {
	failover.Transport
	lost atomic.Uint64
}

func (l *lossyTransport) Drops() []map[string]uint64 {
	return []map[string]uint64{{"rcvbuf": l.lost.Load()}, {}}
}

// A standby whose heartbeat socket loses datagrams unread (a flood faster
// than it reads, which takes real heartbeats with it) does not take over
// from a peer it finds silent meanwhile; once the loss stops, a silent
// peer is taken over from as usual.
func TestNodeFloodedSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lossy *lossyTransport
		p := startPair(t, func(c *failover.NodeConfig) {
			if c.Node == "node-b" {
				lossy = &lossyTransport{Transport: c.Transport}
				c.Transport = lossy
			}
		})
		p.formed(t)
		p.net.Partition()
		hold(t, 5*time.Second, "node-b standby while its socket drops datagrams", func() bool {
			lossy.lost.Add(10)
			return p.b.role() == failover.RoleStandby && p.b.act.Count(failovertest.OpTakeOver) == 0
		})
		if st := p.b.node.Status(); !strings.Contains(st.Reason, "heartbeat sockets are dropping datagrams unread") || st.Drops["rcvbuf"] == 0 {
			t.Errorf("node-b reason %q, drops %v; want the lost datagrams named and counted", st.Reason, st.Drops)
		}
		waitFor(t, 5*time.Second, "node-b takes over once the loss stopped", func() bool {
			return p.b.role() == failover.RolePrimary
		})
	})
}
