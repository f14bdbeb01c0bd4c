package failover_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
)

// fenceFails makes the first n fence calls of tn fail.
func fenceFails(tn *testNode, n int) {
	var mu sync.Mutex
	tn.act.Set(failovertest.OpFence, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			n--
			return errors.New("fence: ipmi power off 10.1.2.1: no answer")
		}
		return nil
	})
}

// calls returns tn's calls of op.
func calls(tn *testNode, op failovertest.Op) []failovertest.Call {
	var out []failovertest.Call
	for _, c := range tn.act.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// A failed fence blocks the takeover, shows in Status, and is tried again
// after the retry delay; the takeover follows the first fence that works.
func TestNodeFenceFailsThenRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.Policy.NeedFence = true })
		p.formed(t)
		if n := p.a.act.Count(failovertest.OpFence) + p.b.act.Count(failovertest.OpFence); n != 0 {
			t.Fatalf("got %d fence calls while the pair formed, want none (both heard)", n)
		}
		fenceFails(p.b, 2)
		p.a.cancel() // node-a goes silent
		<-p.a.done

		waitFor(t, 5*time.Second, "node-b fences node-a once", func() bool { return p.b.act.Count(failovertest.OpFence) >= 1 })
		waitFor(t, time.Second, "node-b's status says the fence failed", func() bool {
			st := p.b.node.Status()
			return strings.Contains(st.Reason, "fencing node-a failed: not taking over")
		})
		if st := p.b.node.Status(); st.Role != failover.RoleStandby || !strings.Contains(st.LastError, "fence_peer: fence: ipmi power off") {
			t.Errorf("node-b role %s last error %q, want standby and the fence error", st.Role, st.LastError)
		}
		waitFor(t, 10*time.Second, "node-b primary after the third fence", func() bool {
			if p.b.role() == failover.RolePrimary && p.b.act.Count(failovertest.OpFence) < 3 {
				t.Fatalf("node-b took over after %d fence calls, want 3 (two failed)", p.b.act.Count(failovertest.OpFence))
			}
			return p.b.role() == failover.RolePrimary
		})
		fences := calls(p.b, failovertest.OpFence)
		if len(fences) != 3 {
			t.Fatalf("got %d fence calls, want 3", len(fences))
		}
		// One alert for the run of failures, one when the fence worked.
		var alerts []string
		for _, e := range p.b.events.of(event.ActionFailed) {
			alerts = append(alerts, fmt.Sprintf("%s resolved=%v %v", e.Severity, e.Resolved, e.Details["action"]))
		}
		if want := []string{"critical resolved=false fence_peer", "info resolved=true fence_peer"}; !slices.Equal(alerts, want) {
			t.Errorf("node-b's action_failed events: got %q, want %q", alerts, want)
		}
		for i, c := range fences {
			if !strings.Contains(c.Reason, "node-a silent since") || !strings.Contains(c.Reason, "fencing node-a before taking over") {
				t.Errorf("fence %d reason %q, want the silent peer and the fence", i, c.Reason)
			}
			if i > 0 {
				if gap := c.At.Sub(fences[i-1].At); gap < failover.DefaultRetryDelay {
					t.Errorf("fence %d came %s after the one before, want at least the retry delay %s", i, gap, failover.DefaultRetryDelay)
				}
			}
		}
		takes := calls(p.b, failovertest.OpTakeOver)
		if len(takes) != 1 || takes[0].At.Before(fences[2].At) {
			t.Errorf("node-b takeovers %+v, want one, after the fence at %s", takes, fences[2].At)
		}
	})
}

// Fencing is per silent-peer episode: once the peer is heard again, a failed
// fence is forgotten, and the next silence fences at once, without waiting
// out the retry delay.
func TestNodeFenceResetWhenPeerHeard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) {
			c.Policy.NeedFence = true
			c.RetryDelay = time.Minute
		})
		p.formed(t)
		fenceFails(p.b, 1)
		p.net.Partition()
		waitFor(t, 5*time.Second, "node-b fences node-a", func() bool { return p.b.act.Count(failovertest.OpFence) == 1 })
		hold(t, 5*time.Second, "node-b standby, no second fence within the retry delay", func() bool {
			return p.b.role() == failover.RoleStandby && p.b.act.Count(failovertest.OpFence) == 1 && !p.b.holds()
		})
		if st := p.b.node.Status(); !strings.Contains(st.Reason, "fencing node-a failed") {
			t.Errorf("node-b reason %q, want the failed fence", st.Reason)
		}

		p.net.Heal()
		waitFor(t, 2*time.Second, "node-b hears node-a again", func() bool {
			st := p.b.node.Status()
			return st.Peer.Alive && strings.Contains(st.Reason, "standby; node-a is primary")
		})
		first := calls(p.b, failovertest.OpFence)[0].At
		p.net.Partition()
		waitFor(t, 5*time.Second, "node-b fences anew and takes over", func() bool { return p.b.role() == failover.RolePrimary })
		fences := calls(p.b, failovertest.OpFence)
		if len(fences) != 2 || fences[1].Err != nil {
			t.Fatalf("got fence calls %+v, want two, the second working", fences)
		}
		if gap := fences[1].At.Sub(first); gap >= time.Minute {
			t.Errorf("second fence %s after the first, want it before the retry delay of 1m (the peer was heard between)", gap)
		}
	})
}

// A fence that takes long runs apart from the decision loop: meanwhile the
// node keeps deciding — maintenance switched on shows at once and travels
// in its heartbeats, the peer heard again is noticed — and once the fence
// ends, the node does not take over from a peer that is alive again.
func TestNodeKeepsDecidingDuringLongFence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.Policy.NeedFence = true })
		p.formed(t)
		p.b.act.Set(failovertest.OpFence, func(ctx context.Context) error {
			select {
			case <-time.After(20 * time.Second):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		p.net.Partition()
		waitFor(t, 5*time.Second, "node-b fencing", func() bool { return p.b.node.Status().AuxBusy == failover.ActionFencePeer })
		since := p.b.node.Status().AuxSince

		p.b.node.SetMaintenance(true)
		waitFor(t, time.Second, "node-b decides maintenance while fencing", func() bool {
			st := p.b.node.Status()
			return st.Maintenance && strings.Contains(st.Reason, "fence_peer under way; maintenance mode") && st.DecidedAt.After(since)
		})
		p.net.Heal()
		waitFor(t, time.Second, "node-a hears node-b's maintenance flag while node-b still fences", func() bool {
			return p.a.node.Status().Peer.Maintenance && p.b.node.Status().AuxBusy == failover.ActionFencePeer
		})
		if st := p.b.node.Status(); !st.Peer.Alive || st.Role != failover.RoleMaintenance {
			t.Errorf("node-b while fencing: peer alive %v role %s, want node-a heard again, and in maintenance (not primary)", st.Peer.Alive, st.Role)
		}
		p.b.node.SetMaintenance(false)
		waitFor(t, 25*time.Second, "the fence ends", func() bool { return p.b.node.Status().AuxBusy == failover.ActionNone })
		hold(t, 5*time.Second, "node-b does not take over from a live primary", func() bool {
			return p.b.role() == failover.RoleStandby && p.a.role() == failover.RolePrimary && p.b.act.Count(failovertest.OpTakeOver) == 0
		})
	})
}

// A node stopped while an action runs cancels it and waits for it before
// Run returns.
func TestNodeStopWaitsForAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, func(c *failover.NodeConfig) { c.Policy.NeedFence = true })
		p.formed(t)
		var mu sync.Mutex
		ended := false
		p.b.act.Set(failovertest.OpFence, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // a fence agent that takes a moment to stop
			mu.Lock()
			ended = true
			mu.Unlock()
			return ctx.Err()
		})
		p.net.Partition()
		waitFor(t, 5*time.Second, "node-b fencing", func() bool { return p.b.node.Status().AuxBusy == failover.ActionFencePeer })
		p.b.stop(t)
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Errorf("Run returned before the fence under way ended")
		}
	})
}
