package failover_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
)

// A healed partition where the releasing node outranks the peer on a tie
// (node-a is preferred) and its release is slow (a database demotion takes
// seconds): until the release is done, node-a's heartbeats must not say
// "primary at node-b's epoch", which would tie and make node-b release too,
// leaving the pair with no primary.
func TestNodeSlowReleaseAfterPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPair(t, nil)
		p.formed(t)
		p.net.Partition()
		waitFor(t, 5*time.Second, "node-b takes over at epoch 2", func() bool {
			return p.b.role() == failover.RolePrimary && p.b.node.Status().Epoch == 2
		})
		p.a.act.Set(failovertest.OpRelease, func(ctx context.Context) error {
			select {
			case <-time.After(4 * time.Second):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		p.net.Heal()
		waitFor(t, 10*time.Second, "node-a released to node-b", func() bool {
			return p.a.role() == failover.RoleStandby && !p.a.holds()
		})
		hold(t, 2*time.Second, "node-b stays primary", func() bool {
			return p.b.role() == failover.RolePrimary && p.b.holds()
		})
		if n := p.b.act.Count(failovertest.OpRelease); n != 0 {
			t.Errorf("node-b released %d times while node-a released, want 0", n)
		}
		if st := p.a.node.Status(); st.Epoch != 2 {
			t.Errorf("node-a epoch after its release: got %d, want 2 (node-b's)", st.Epoch)
		}
	})
}
