package failover_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/failover/failovertest"
)

// restTieBreaker is a tie-breaker that answers every round at once: the
// node's AskTieBreaker, and the answer's time for its Local.
type restTieBreaker struct {
	mu     sync.Mutex
	last   time.Time
	urgent int
	rounds int
}

func (tb *restTieBreaker) ask(urgent bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.last = time.Now()
	tb.rounds++
	if urgent {
		tb.urgent++
	}
}

func (tb *restTieBreaker) counts() (rounds, urgent int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.rounds, tb.urgent
}

// TestNodeRestWakeups: a pair at rest with default timings decides about
// once a second on each node (the calm tie-breaker round and restEvery),
// not at every acknowledgement: the primary's isolation round, due a
// quarter interval after each acknowledgement would be late, is put off by
// the next acknowledgement (pushBack) instead of waking the loop to find
// it fresh. Nothing is decided differently for it: no urgent round, no
// step-down, no role change.
func TestNodeRestWakeups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var decisions [2]atomic.Int64
		var tbs [2]restTieBreaker
		var offGrid [2]atomic.Int64 // decisions between two points of the interval's grid
		var counting atomic.Bool
		net := failovertest.NewNetwork(1, 2, time.Now)
		mk := func(i int, name string) *testNode {
			var tn *testNode
			tn = newTestNode(t, net, i, name, t.TempDir(), func(c *failover.NodeConfig) {
				c.Policy.IsolationAfter = failover.DefaultIsolationAfter
				c.AskTieBreaker = tbs[i].ask
				c.Local = func() failover.LocalState {
					decisions[i].Add(1)
					if now := time.Now(); counting.Load() && !now.Equal(now.Truncate(failover.DefaultInterval)) {
						offGrid[i].Add(1)
					}
					s := tn.local.Get()
					tbs[i].mu.Lock()
					s.TieBreakerAt = tbs[i].last
					tbs[i].mu.Unlock()
					return s
				}
			})
			return tn
		}
		p := &pair{net: net, a: mk(0, "node-a"), b: mk(1, "node-b")}
		p.start(t)
		p.formed(t)
		time.Sleep(2 * time.Second) // settle: the first rounds after forming
		synctest.Wait()
		const window = 20 * time.Second
		var before [2]int64
		var roundsBefore, urgentBefore [2]int
		for i := range decisions {
			before[i] = decisions[i].Load()
			roundsBefore[i], urgentBefore[i] = tbs[i].counts()
		}
		ra, rb := len(p.a.node.Status().History), len(p.b.node.Status().History)
		counting.Store(true)
		hold(t, window, "pair at rest", func() bool {
			return p.a.role() == failover.RolePrimary && p.b.role() == failover.RoleStandby
		})
		for i, name := range []string{"node-a (primary)", "node-b (standby)"} {
			got := decisions[i].Load() - before[i]
			t.Logf("%s: %d decisions, tie-breaker rounds %d", name, got, func() int { r, _ := tbs[i].counts(); return r - roundsBefore[i] }())
			// About one a second; twice that leaves room for the first
			// round's phase and a rest tick between rounds.
			if max := int64(2 * window / time.Second); got > max {
				t.Errorf("%s decided %d times in %s at rest, want at most %d", name, got, window, max)
			}
			// The heartbeats, and so the decisions and the calm rounds,
			// fall on the interval's grid (the test network delivers at
			// once): a node at rest wakes only there.
			if n := offGrid[i].Load(); n > 0 {
				t.Errorf("%s decided %d times off the heartbeat interval's grid at rest, want none", name, n)
			}
			rounds, urgent := tbs[i].counts()
			if urgent != urgentBefore[i] {
				t.Errorf("%s asked %d urgent tie-breaker rounds at rest, want none", name, urgent-urgentBefore[i])
			}
			if rounds-roundsBefore[i] < int(window/failover.TieBreakerCalmEvery)-2 {
				t.Errorf("%s asked %d tie-breaker rounds in %s, want about one a second", name, rounds-roundsBefore[i], window)
			}
		}
		if len(p.a.node.Status().History) != ra || len(p.b.node.Status().History) != rb {
			t.Errorf("role changes at rest, want none")
		}
	})
}
