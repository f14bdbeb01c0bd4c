package act_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/act/acttest"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
	"github.com/pbxha/pbxha/probe"
)

// actNode is a real failover.Node whose actuators are the act stage over
// faked resources.
type actNode struct {
	node  *failover.Node
	world *acttest.World
	local *failovertest.Local
}

func startActPair(t *testing.T) (a, b *actNode) {
	t.Helper()
	net := failovertest.NewNetwork(1, 2, time.Now)
	mk := func(end int, name, peerHost string) *actNode {
		w := acttest.New(nil)
		n := &actNode{world: w, local: failovertest.NewLocal(failover.LocalState{Health: probe.Healthy, TieBreakerOK: true, DB: failover.DBStandby})}
		pol := failover.DefaultPolicy()
		pol.PreferredNode = "node-a"
		node, err := failover.NewNode(failover.NodeConfig{
			Cluster: "pair", Node: name, Keys: failover.Keys{Current: []byte("0123456789abcdef0123456789abcdef")}, Policy: pol,
			StateDir: t.TempDir(), Transport: net.Endpoint(end), Tracker: failover.TrackerConfig{Paths: 2},
			Local: n.local.Get, Logger: quiet(),
			Act: act.New(act.Config{Node: name, PeerHost: peerHost, Logger: quiet()}, w.Resources()),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.node = node
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { node.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return n
	}
	return mk(0, "node-a", "198.18.0.2"), mk(1, "node-b", "198.18.0.1")
}

// await advances fake time in 10ms steps until cond holds, checking inv
// at every step.
func await(t *testing.T, within time.Duration, what string, cond, inv func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		synctest.Wait()
		if !inv() {
			t.Fatalf("%s: invariant broken at %s", what, time.Now().Format(time.RFC3339Nano))
		}
		if cond() {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNodeThroughAct follows failovers from the decision to the resources:
// the pair forms, the primary's service fails and it releases in order
// before the standby takes over in order; the new primary's first VIP add
// fails after its database was promoted, the takeover is undone (database
// demoted, no VIP) and tried again after the retry delay. Never are both
// databases writable or both VIPs up at once.
func TestNodeThroughAct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := startActPair(t)
		oneWriter := func() bool {
			return !(a.world.Writable() && b.world.Writable()) && !(a.world.HoldsVIP() && b.world.HoldsVIP())
		}
		await(t, 10*time.Second, "node-a primary", func() bool { return a.node.Status().Role == failover.RolePrimary }, oneWriter)
		takeover := []string{acttest.DBPromote, acttest.VIPUp, acttest.PBXEnsure, acttest.CommandsSend, acttest.HooksTakeover}
		if got := a.world.Ops(); !slices.Equal(got, takeover) {
			t.Fatalf("node-a's first takeover: got %q, want %q", got, takeover)
		}

		var mu sync.Mutex
		fails := 1
		b.world.Set(acttest.VIPUp, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if fails > 0 {
				fails--
				return errors.New("vip: add 198.18.0.100/24: permission denied")
			}
			return nil
		})
		a.local.Update(func(s *failover.LocalState) { s.Health = probe.HealthFailed })
		await(t, 10*time.Second, "node-b primary", func() bool { return b.node.Status().Role == failover.RolePrimary }, oneWriter)

		release := []string{acttest.HooksRelease, acttest.VIPDown, acttest.DBDemote}
		if got := a.world.Ops()[len(takeover):]; len(got) < 3 || !slices.Equal(got[:3], release) || !slices.Contains(got[3:], acttest.PBXRestart) {
			t.Errorf("node-a after its service failed: got %q, want %q then a PBX restart", got, release)
		}
		want := append(append([]string{acttest.DBPromote, "vip.up!"}, release...), takeover...)
		if got := b.world.Ops(); !slices.Equal(got, want) {
			t.Errorf("node-b: got %q, want %q", got, want)
		}
		calls := b.world.Calls()
		if gap := calls[5].Start.Sub(calls[1].End); gap < failover.DefaultRetryDelay {
			t.Errorf("the second takeover began %s after the first failed, want at least the retry delay %s", gap, failover.DefaultRetryDelay)
		}
		if st := b.node.Status(); st.Epoch != 3 {
			t.Errorf("node-b's epoch: got %d, want 3 (the failed attempt used 2)", st.Epoch)
		}
	})
}
