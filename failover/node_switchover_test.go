package failover_test

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
	"github.com/pbxha/pbxha/probe"
)

func TestNodeSwitchover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ask   func(p *pair) uint64
		on    func(p *pair) *testNode
		steps []string // the timeline the asked node records, in order
	}{
		{"asked on the standby for itself", func(p *pair) uint64 { return p.b.node.RequestSwitchover("node-b", false) }, func(p *pair) *testNode { return p.b },
			[]string{"node-b switchover to node-b requested", "node-a seen standby", "node-b takeover decided", "node-b VIP up", "node-b ready", "node-b switchover done"}},
		{"asked on the primary, no target", func(p *pair) uint64 { return p.a.node.RequestSwitchover("", false) }, func(p *pair) *testNode { return p.a },
			[]string{"node-a switchover to node-b requested", "node-a release decided", "node-a VIP down", "node-a released", "node-b seen primary", "node-a switchover done"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := startPair(t, nil)
				p.formed(t)
				id := tc.ask(p)
				if st := tc.on(p).node.Status().Switchover; st.Request.ID != id || st.Request.Target != "node-b" || st.Outcome != "pending" {
					t.Fatalf("switchover state %+v, want id %d to node-b pending", st, id)
				}
				waitFor(t, 5*time.Second, "node-b primary", func() bool {
					p.checkOneHolder(t)
					return p.b.role() == failover.RolePrimary && p.a.role() == failover.RoleStandby
				})
				if sw := p.b.events.of(event.Switchover); len(sw) != 1 || len(p.b.events.of(event.Failover)) != 0 {
					t.Errorf("node-b switchover events %+v, want one and no failover", sw)
				}
				waitFor(t, time.Second, "request done", func() bool { return tc.on(p).node.Status().Switchover.Outcome == "done" })
				var got []string
				var last time.Time
				for _, s := range tc.on(p).node.Status().Switchover.Steps {
					got = append(got, s.Node+" "+s.What)
					if s.At.Before(last) {
						t.Errorf("step %q at %s comes before the step ahead of it (%s)", s.What, s.At, last)
					}
					last = s.At
				}
				if !slices.Equal(got, tc.steps) {
					t.Errorf("switchover timeline\n got %q\nwant %q", got, tc.steps)
				}
				// The role stays put once the request is done.
				hold(t, 5*time.Second, "node-b stays primary", func() bool { return p.b.role() == failover.RolePrimary && p.b.holds() })
			})
		})
	}
}

func TestNodeSwitchoverTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.SwitchoverTimeout = 3 * time.Second })
		p.formed(t)
		p.b.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthDegraded })
		waitFor(t, time.Second, "node-a hears node-b degraded", func() bool {
			return p.a.node.Status().Peer.Health == probe.HealthDegraded
		})
		p.a.node.RequestSwitchover("node-b", false)
		waitFor(t, 5*time.Second, "request times out", func() bool { return p.a.node.Status().Switchover.Outcome == "timed out" })
		if p.a.role() != failover.RolePrimary || p.b.act.Count(failovertest.OpTakeOver) != 0 {
			t.Errorf("node-a %s, node-b took over %d times; want no move to a degraded standby", p.a.role(), p.b.act.Count(failovertest.OpTakeOver))
		}
	})
}

// A primary whose database has no streaming standby holds a planned
// switchover: the reason says why, nothing moves. A request whose caller
// stopped waiting (EndSwitchover) ends and does not fire once the standby
// streams again; a new one then moves the service.
func TestNodeSwitchoverWaitsForStreamingStandby(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.a.local.Update(func(s *failover.LocalState) { s.DB, s.NoStreamingStandby = failover.DBPrimary, true })
		id := p.a.node.RequestSwitchover("node-b", false)
		waitFor(t, time.Second, "node-a says why it waits", func() bool {
			return strings.Contains(p.a.node.Status().Reason, "waits: no standby is streaming from this node's database")
		})
		hold(t, 5*time.Second, "node-a keeps the service", func() bool {
			return p.a.role() == failover.RolePrimary && p.a.holds() && p.b.role() == failover.RoleStandby
		})
		if !p.a.node.EndSwitchover(id) {
			t.Fatalf("EndSwitchover(%d): got false, want the pending request ended", id)
		}
		if st := p.a.node.Status().Switchover; st.Outcome != "timed out" {
			t.Errorf("outcome after EndSwitchover: got %q, want timed out", st.Outcome)
		}
		if p.a.node.EndSwitchover(id) {
			t.Errorf("second EndSwitchover(%d): got true, want false (already ended)", id)
		}
		p.a.local.Update(func(s *failover.LocalState) { s.NoStreamingStandby = false })
		hold(t, 3*time.Second, "the ended request does not move the service", func() bool {
			return p.a.role() == failover.RolePrimary && p.b.act.Count(failovertest.OpTakeOver) == 0
		})
		p.a.node.RequestSwitchover("node-b", false)
		waitFor(t, 5*time.Second, "node-b primary", func() bool {
			p.checkOneHolder(t)
			return p.b.role() == failover.RolePrimary && p.a.role() == failover.RoleStandby
		})
	})
}
