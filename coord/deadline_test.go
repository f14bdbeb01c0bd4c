package coord

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/deadlinetest"
	"github.com/pbxha/pbxha/probe"
)

// checkNextDeadline asserts NextDeadline's contract on o (deadlinetest).
func checkNextDeadline(o Observation, p Policy) error {
	return deadlinetest.Check(deadlinetest.Contract[Decision]{
		Now: o.Now, Next: NextDeadline(o, p),
		Decide: func(t time.Time) Decision { a := o; a.Now = t; return Decide(a, p) },
		Same:   Decision.same,
		Describe: func(d Decision) string {
			return fmt.Sprintf("%s %s eligible %v %q", d.Action, d.Role, d.Eligible, d.Reason)
		},
	})
}

// TestNextDeadline names the deadlines a node must not miss, each with the
// observation that waits for it.
func TestNextDeadline(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	p := testPolicy() // TTL 1s, budget 100ms, margin 120ms: the step-down point is SafeUntil − 220ms
	tests := []struct {
		name     string
		follower bool
		edit     func(*Observation)
		policy   func(*Policy)
		want     time.Duration // after Now; 0: none
	}{
		{name: "leader: its step-down point", want: ms(680)}, // SafeUntil +900ms
		{name: "leader: a later renewal moves it",
			edit: func(o *Observation) { o.SafeUntil = t0.Add(2 * time.Second) }, want: ms(1780)},
		{name: "leader: the step-down point counts the raised budget",
			policy: func(p *Policy) { p.StepDown = 300 * time.Millisecond }, want: ms(480)},
		{name: "leader past its step-down point: stepping down now, nothing later",
			edit: func(o *Observation) { o.SafeUntil = t0.Add(ms(100)) }, want: 0},
		{name: "leader stepping down while it runs: the lease's point has passed",
			edit: func(o *Observation) { o.SafeUntil = t0.Add(ms(100)); o.Busy = failover.ActionStepDown }, want: 0},
		{name: "leader: a failed step-down is tried again at its retry time",
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(ms(100))
				o.RetryAt = map[failover.Action]time.Time{failover.ActionStepDown: t0.Add(ms(150))}
			}, want: ms(150)},
		{name: "leader without its key steps down at once; its eligibility ends at the step-down point",
			edit: func(o *Observation) { o.LeaderMine, o.Leader = false, "" }, want: ms(680)},
		{name: "failed leader, restart_first: restart_grace ends before the lease's point",
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(10 * time.Second)
				o.Local.Health = probe.HealthFailed
				o.FailedSince = t0.Add(-9500 * time.Millisecond)
			},
			policy: func(p *Policy) { p.Mode = failover.RestartFirst }, want: ms(500)},
		{name: "failback: a higher-priority member eligible for failback_delay",
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.Members[0].Priority, o.Members[0].EligibleSince = 200, t0.Add(-4*time.Second)
			},
			policy: func(p *Policy) { p.Failback = failover.FailbackAuto }, want: time.Second},
		{name: "failback off: a higher-priority member changes nothing",
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.Members[0].Priority, o.Members[0].EligibleSince = 200, t0.Add(-4*time.Second)
			}, want: time.Hour - ms(220)},
		{name: "follower: its own eligibility ends at the step-down point", follower: true,
			edit: func(o *Observation) { o.Leader = "n1" }, want: ms(680)},
		{name: "follower: the start-up wait ends", follower: true,
			edit: func(o *Observation) { o.StartedAt = t0.Add(-ms(700)); o.SafeUntil = t0.Add(time.Hour) },
			want: ms(300)},
		{name: "follower: a better member waited for until the vacancy is a TTL old", follower: true,
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.Members[0].Priority = 200
			}, want: ms(900) + 1},
		{name: "follower: the vacancy counts from the end of the start-up wait", follower: true,
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.Members[0].Priority = 200
				o.NoLeaderSince = t0.Add(-2 * time.Second)
				o.StartedAt = t0.Add(-ms(1500)) // the wait ended 500ms ago
			}, want: ms(500) + 1},
		{name: "follower: a switchover away from this node waits out the vacancy", follower: true,
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.Switchover = Request{ID: "x", Away: "n2"}
			}, want: ms(900) + 1},
		{name: "follower: a takeover that failed is tried again", follower: true,
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.RetryAt = map[failover.Action]time.Time{failover.ActionTakeOver: t0.Add(ms(1500))}
			}, want: ms(1500)},
		{name: "follower: a retry of another action changes nothing", follower: true,
			edit: func(o *Observation) {
				o.SafeUntil = t0.Add(time.Hour)
				o.RetryAt = map[failover.Action]time.Time{failover.ActionRelease: t0.Add(ms(1500))}
				o.Members[0].Priority = 200
			}, want: ms(900) + 1},
		{name: "follower without a lease: nothing to wait for", follower: true,
			edit: func(o *Observation) { o.SafeUntil = time.Time{}; o.Leader = "n1" }, want: 0},
		{name: "not synced: nothing to wait for", follower: true,
			edit: func(o *Observation) { o.Synced = false }, want: 0},
		{name: "maintenance: only the eligibility", follower: true,
			edit: func(o *Observation) { o.Local.Maintenance = true; o.Leader = "n1" }, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := leaderObs()
			if tc.follower {
				o = followerObs()
			}
			pp := p
			if tc.edit != nil {
				tc.edit(&o)
			}
			if tc.policy != nil {
				tc.policy(&pp)
			}
			var got time.Duration
			if next := NextDeadline(o, pp); !next.IsZero() {
				got = next.Sub(o.Now)
			}
			if got != tc.want {
				d := Decide(o, pp)
				t.Errorf("got NextDeadline +%s, want +%s (decision %s %s: %s)", got, tc.want, d.Action, d.Role, d.Reason)
			}
			if err := checkNextDeadline(o, pp); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNextDeadlineRandom checks NextDeadline's contract on random
// observations: no decision changes before it, and one does at it.
func TestNextDeadlineRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	pick := func(n int) int { return rng.IntN(n) }
	for i := range 3000 {
		p := testPolicy()
		p.StepDown = ms(50, 300)
		p.InitWait = []time.Duration{0, ms(100, 2000)}[pick(2)]
		p.Mode = []failover.Mode{failover.FailoverFirst, failover.RestartFirst}[pick(2)]
		p.RestartGrace = ms(100, 3000)
		p.Failback = []failover.Failback{failover.FailbackOff, failover.FailbackAuto}[pick(2)]
		p.FailbackDelay = ms(100, 3000)
		o := Observation{Now: t0, Node: "n1", Epoch: 2, Priority: []int{0, 50, 100, 200}[pick(4)], Synced: pick(10) > 0,
			Role:      []failover.Role{failover.RoleInit, failover.RoleStandby, failover.RolePrimary, failover.RoleFault, failover.RoleMaintenance}[pick(5)],
			StartedAt: t0.Add(-ms(0, 3000)),
			Local: failover.LocalState{Health: []probe.Health{probe.Healthy, probe.HealthDegraded, probe.HealthFailed}[pick(3)],
				Maintenance: pick(10) == 0, TieBreakerOK: true},
		}
		if pick(5) > 0 {
			o.SafeUntil = t0.Add(ms(-200, 2000))
		}
		switch pick(3) {
		case 0:
			o.NoLeaderSince = t0.Add(-ms(0, 3000))
		case 1:
			o.Leader, o.LeaderMine = "n1", true
		default:
			o.Leader = "n2"
		}
		if o.Local.Health == probe.HealthFailed {
			o.FailedSince = t0.Add(-ms(0, 3000))
		}
		for j, name := range []string{"n2", "n3"}[:pick(3)] {
			m := Member{Node: name, Health: probe.Healthy, Eligible: pick(4) > 0, Priority: []int{0, 50, 100, 200}[pick(4)]}
			if m.Eligible && pick(2) == 0 {
				m.EligibleSince = t0.Add(-ms(0, 3000))
			}
			m.Maintenance = pick(20) == 0 && j == 0
			o.Members = append(o.Members, m)
		}
		switch pick(4) {
		case 0:
			o.Switchover = Request{ID: "a", Away: []string{"n1", "n2"}[pick(2)]}
		case 1:
			o.Switchover = Request{ID: "b", To: []string{"n1", "n2"}[pick(2)]}
		}
		if pick(3) == 0 {
			o.RetryAt = map[failover.Action]time.Time{
				[]failover.Action{failover.ActionTakeOver, failover.ActionStepDown, failover.ActionRelease, failover.ActionRestartPBX}[pick(4)]: t0.Add(ms(-100, 2500)),
			}
		}
		o.Busy = []failover.Action{failover.ActionNone, failover.ActionNone, failover.ActionTakeOver, failover.ActionRelease}[pick(4)]
		if err := checkNextDeadline(o, p); err != nil {
			t.Fatalf("case %d: %v\nobservation %+v\npolicy %+v", i, err, o, p)
		}
	}
}
