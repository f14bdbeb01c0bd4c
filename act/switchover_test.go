package act_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/failover"
)

// TestSwitchoverDrains: asked on the primary, a switchover waits for the
// active calls to end (up to the drain limit), then moves the service and
// prints the drain, the release and the peer's takeover in order. With
// nothing that counts calls it says so instead of claiming none were
// active.
func TestSwitchoverDrains(t *testing.T) {
	for _, tc := range []struct {
		name     string
		calls    int64
		counted  bool
		endAfter time.Duration // the calls end after this; 0: never
		drain    time.Duration
		first    string // the first timeline step
		drained  int
	}{
		{"calls drain", 3, true, 2 * time.Second, 10 * time.Second, "3 active call(s) drained", 3},
		{"drain limit", 2, true, 0, 3 * time.Second, "drain timeout 3s: 2 call(s) still active", 2},
		{"idle", 0, true, 0, 10 * time.Second, "no active calls to drain", 0},
		{"nothing counts calls", 0, false, 0, 10 * time.Second, "nothing counts calls (no esl or ami probe reads them): nothing drained", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := startActPair(t)
				await(t, 10*time.Second, "pair formed", func() bool {
					return a.node.Status().Role == failover.RolePrimary && b.node.Status().Role == failover.RoleStandby
				}, func() bool { return true })
				var calls atomic.Int64
				calls.Store(tc.calls)
				if tc.endAfter > 0 {
					time.AfterFunc(tc.endAfter, func() { calls.Store(0) })
				}
				sw := act.Switchover{Node: a.node, Calls: func() (int, bool) { return int(calls.Load()), tc.counted }}
				start := time.Now()
				res, err := sw.Run(t.Context(), "", tc.drain, false)
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != "done" || res.Primary != "node-b" || res.Drained != tc.drained {
					t.Errorf("got outcome %q primary %q drained %d, want done node-b %d", res.Outcome, res.Primary, res.Drained, tc.drained)
				}
				if len(res.Timeline) == 0 || res.Timeline[0].What != tc.first {
					t.Fatalf("timeline %+v, want it to begin with %q", res.Timeline, tc.first)
				}
				if tc.endAfter > 0 && res.Timeline[0].At.Sub(start) < tc.endAfter {
					t.Errorf("drain ended %s after the start, want after the calls ended at %s", res.Timeline[0].At.Sub(start), tc.endAfter)
				}
				var steps []string
				for _, s := range res.Timeline {
					steps = append(steps, s.Node+" "+s.What)
				}
				joined := strings.Join(steps, "; ")
				for _, want := range []string{"node-a switchover to node-b requested", "node-a released", "node-b seen primary", "node-a switchover done"} {
					if !strings.Contains(joined, want) {
						t.Errorf("timeline %q lacks %q", joined, want)
					}
				}
			})
		})
	}
}

func TestSwitchoverRefusesStranger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := startActPair(t)
		synctest.Wait()
		_, err := act.Switchover{Node: a.node, Calls: func() (int, bool) { return 0, false }}.Run(t.Context(), "node-z", 0, false)
		if err == nil || !strings.Contains(err.Error(), `"node-z" is not a node of this pair`) {
			t.Errorf("got %v, want node-z refused", err)
		}
	})
}
