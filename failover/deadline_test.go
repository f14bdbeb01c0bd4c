package failover

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/deadlinetest"
	"github.com/pbxha/pbxha/probe"
)

// checkNextDeadline asserts NextDeadline's contract on o (deadlinetest),
// the peer dying at its DeadAt as time passes; samples thins the sampled
// offsets (every n-th).
func checkNextDeadline(o Observation, p Policy, samples int) error {
	return deadlinetest.Check(deadlinetest.Contract[Decision]{
		Now: o.Now, Next: NextDeadline(o, p), Every: samples,
		Decide: func(t time.Time) Decision { return Decide(o.at(t, p), p) },
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
	p := DefaultPolicy()
	for _, tc := range []struct {
		name string
		obs  Observation
		edit func(*Observation)
		want time.Duration // after Now; 0: none
	}{
		// A standby at rest: the primary's death alone changes nothing
		// Decide returns (a takeover needs a fresh tie-breaker answer,
		// which the node asks for; see TieBreakerDue); the answer going
		// stale makes it not eligible.
		{name: "standby at rest: the tie-breaker answer goes stale", obs: standbyObs(), want: ms(3150)},
		{name: "standby, peer silent: the takeover wait", obs: standbyObs(),
			edit: func(o *Observation) {
				peerDead(o)
				o.Peer.LastHeard = o.Now.Add(-ms(1000))
				o.TieBreakerAt = o.Now // fresh for dead_after/2
			}, want: p.TakeoverWait(0) - ms(1000)},
		{name: "standby, peer silent, answer no longer fresh: eligibility lapses", obs: standbyObs(),
			edit: func(o *Observation) {
				peerDead(o)
				o.Peer.LastHeard = o.Now.Add(-ms(1000))
				o.TieBreakerAt = o.Now.Add(-ms(400))
			}, want: ms(2800)},
		{name: "primary at rest: isolation unless an ack or an answer comes", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.DeadAt = o.Now.Add(ms(900))
		}, want: ms(350)},
		{name: "primary, peer silent: isolation after the tie-breaker's answer", obs: primaryObs(),
			edit: func(o *Observation) {
				peerDead(o)
				o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-ms(300)), o.Now.Add(-ms(100))
			}, want: ms(300)},
		{name: "primary, tie-breaker lost: isolation after the peer's last ack", obs: primaryObs(),
			edit: func(o *Observation) {
				o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-ms(350)), o.Now.Add(-ms(5000))
			}, want: ms(50)},
		{name: "init: init_dead", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.Peer, o.StartedAt = RoleInit, PeerView{}, o.Now.Add(-ms(2500))
		}, want: ms(500)},
		{name: "standby: the eligibility hold", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleStandby, false // released
			o.EligibleSince, o.TieBreakerAt = o.Now.Add(-ms(1700)), o.Now
		}, want: ms(300)},
		{name: "failed primary, restart_first: restart_grace", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.FailedSince, o.RestartPending = probe.HealthFailed, o.Now.Add(-ms(9900)), true
		}, want: ms(100)},
		{name: "a failed release waits for its retry", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.RetryAt = probe.HealthFailed, map[Action]time.Time{ActionRelease: o.Now.Add(ms(200))}
		}, want: ms(200)},
		{name: "standby, peer silent: heartbeats lost unread hold the takeover for dead_after", obs: standbyObs(),
			edit: func(o *Observation) {
				peerDead(o)
				o.TieBreakerAt, o.HeartbeatLossAt = o.Now, o.Now.Add(-ms(800))
			}, want: ms(200)},
		{name: "primary: failback_delay", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.HealthySince = o.Now.Add(-5*time.Minute + ms(300))
		}, want: ms(300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, pol := tc.obs, p
			if tc.name == "failed primary, restart_first: restart_grace" {
				pol.Mode = RestartFirst
			}
			if tc.name == "primary: failback_delay" {
				pol.Failback, pol.PreferredNode = FailbackAuto, o.Peer.Node
			}
			if tc.edit != nil {
				tc.edit(&o)
			}
			next := NextDeadline(o, pol)
			var got time.Duration
			if !next.IsZero() {
				got = next.Sub(o.Now)
			}
			if got != tc.want {
				t.Errorf("NextDeadline: got +%s, want +%s (decision now: %q)", got, tc.want, Decide(o, pol).Reason)
			}
			if err := checkNextDeadline(o, pol, 1); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNextDeadlineRandom checks NextDeadline's contract on random
// observations whose every time lies within a few seconds of Now.
func TestNextDeadlineRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	n := 5000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		o, p := randomObservation(rng)
		if err := checkNextDeadline(o, p, 3); err != nil {
			t.Fatalf("case %d: %v\nobservation %+v\npolicy %+v", i, err, o, p)
		}
	}
}

// randomObservation draws an observation of a pair: roles, health and the
// peer's view at random, every time at random within 3s before Now (or
// unset), and some policies.
func randomObservation(rng *rand.Rand) (Observation, Policy) {
	now := decideT0
	pick := func(n int) int { return rng.IntN(n) }
	when := func() time.Time {
		if pick(4) == 0 {
			return time.Time{}
		}
		return now.Add(-time.Duration(rng.Int64N(int64(3 * time.Second))))
	}
	flag := func() bool { return pick(2) == 0 }
	o := Observation{
		Now: now, Node: "node-b", Role: allRoles[pick(len(allRoles))], Epoch: uint64(1 + pick(2)),
		Health: allHealth[pick(len(allHealth))], PBXFault: pick(8) == 0, Maintenance: pick(8) == 0,
		StartedAt: now.Add(-time.Duration(rng.Int64N(int64(5 * time.Second)))), DB: DBStandby, WAL: 1 << 30,
		TieBreakerOK: pick(4) != 0, TieBreakerAt: when(), Fence: FenceState(pick(3)), RestartPending: pick(4) == 0,
		FailedSince: when(), EligibleSince: when(), ConfirmedAt: when(), LastAnnounce: when(),
		Witness: WitnessState(pick(3)), SteppedDownAt: when(), FailbackDueSince: when(),
	}
	if pick(4) == 0 {
		o.HeartbeatLossAt = when()
	}
	if pick(3) == 0 {
		o.RetryAt = map[Action]time.Time{Action(pick(int(ActionFailback) + 1)): now.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))}
	}
	if pick(6) == 0 {
		o.Busy = ActionRelease
	}
	if pick(8) == 0 {
		o.VIP = VIPState(pick(3))
	}
	if pick(3) != 0 {
		heard := now.Add(-time.Duration(rng.Int64N(int64(3 * time.Second))))
		o.Peer = PeerView{
			Heard: true, Node: "node-a", Role: allRoles[pick(len(allRoles))], Epoch: uint64(1 + pick(2)),
			Health: allHealth[pick(len(allHealth))], Maintenance: pick(8) == 0, Eligible: flag(), DB: DBPrimary, WAL: 1 << 30,
			LastHeard: heard, HealthySince: when(), Version: uint8(1 + pick(2)), StepDown: DefaultStepDown,
			Restarting: pick(6) == 0, BadMACAt: when(),
		}
		if dead := heard.Add(time.Second); dead.After(now) {
			o.Peer.Alive, o.Peer.DeadAt = true, dead
		}
		if pick(4) == 0 {
			o.Peer.Switchover = SwitchoverRequest{Target: []string{"node-a", "node-b", ""}[pick(3)], ID: 7}
		}
	}
	if pick(6) == 0 {
		o.Switchover = SwitchoverRequest{Target: []string{"node-a", "node-b", ""}[pick(3)], ID: 9}
	}
	p := DefaultPolicy()
	p.Mode = Mode(pick(2))
	p.NeedFence, p.Witness = pick(4) == 0, pick(4) == 0
	p.RestartGrace = time.Duration(rng.Int64N(int64(3 * time.Second)))
	if pick(3) == 0 {
		p.Failback, p.PreferredNode, p.FailbackDelay = FailbackAuto, "node-a", time.Duration(rng.Int64N(int64(3*time.Second)))
		p.FailbackDrain = time.Duration(rng.Int64N(int64(3 * time.Second)))
		o.ActiveCalls, o.CallsCounted = pick(3), flag()
	}
	if pick(5) == 0 {
		p.PreferredNode = "node-b"
	}
	return o, p
}

// TestTieBreakerDue: the calm cadence while no answer can matter, at once
// or every dead_after/5 while one can.
func TestTieBreakerDue(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	p := DefaultPolicy()
	for _, tc := range []struct {
		name       string
		obs        Observation
		edit       func(*Observation)
		last       time.Duration // the last round asked this long before Now; 0: never
		want       time.Duration // due after Now
		wantUrgent bool
	}{
		// Now is on the heartbeat interval's grid: a calm round is due at
		// the last grid point within a second of the last.
		{name: "standby at rest: a second after the last round, on the grid", obs: standbyObs(), last: ms(300), want: ms(600)},
		{name: "standby at rest, the last round on the grid: a second after it", obs: standbyObs(), last: ms(400), want: ms(600)},
		{name: "standby, never asked: now", obs: standbyObs(), want: 0},
		{name: "standby whose last round got no answer: every dead_after/5", obs: standbyObs(), last: ms(50),
			edit: func(o *Observation) { o.TieBreakerOK = false }, want: ms(150), wantUrgent: true},
		{name: "standby, its primary dies before the calm round: from the death", obs: standbyObs(), last: ms(100),
			edit: func(o *Observation) { o.Peer.DeadAt = o.Now.Add(ms(300)) }, want: ms(300), wantUrgent: true},
		{name: "standby, primary silent: every dead_after/5", obs: standbyObs(), last: ms(50),
			edit: peerDead, want: ms(150), wantUrgent: true},
		{name: "standby, the primary released: at once", obs: standbyObs(), last: ms(500),
			edit: func(o *Observation) { o.Peer.Role, o.Peer.Eligible = RoleStandby, false }, want: 0, wantUrgent: true},
		// The primary wakes for it, and sleeps on when an ack came.
		{name: "primary at rest, acked just now: urgent only if no ack comes first", obs: primaryObs(), last: ms(300),
			edit: func(o *Observation) { o.ConfirmedAt = o.Now }, want: p.IsolationAfter - p.tieBreakerLead(), wantUrgent: true},
		{name: "primary without isolation: calm", obs: primaryObs(), last: ms(300),
			edit: func(o *Observation) { o.ConfirmedAt = o.Now }, want: ms(600)},
		{name: "primary, acks late: before the isolation step-down", obs: primaryObs(), last: ms(800),
			edit: func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-ms(200)), o.Now.Add(-ms(900)) },
			want: p.IsolationAfter - p.tieBreakerLead() - ms(200), wantUrgent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			if tc.edit != nil {
				tc.edit(&o)
			}
			var last time.Time
			if tc.last > 0 {
				last = o.Now.Add(-tc.last)
			}
			pol := p
			if strings.HasPrefix(tc.name, "primary without isolation") {
				pol.IsolationAfter = 0
			}
			due, urgent := TieBreakerDue(o, pol, last)
			if got := due.Sub(o.Now); got != tc.want || urgent != tc.wantUrgent {
				t.Errorf("got due +%s urgent %v, want +%s urgent %v", got, urgent, tc.want, tc.wantUrgent)
			}
		})
	}
}

// TestRestHeard: a heartbeat that moves only the peer's times and this
// node's confirmation changes no decision and puts the loop's wake-up off
// by as much as it moved what the wake-up counts from; one that changes
// the decision says so (the node then decides at once).
func TestRestHeard(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	p := DefaultPolicy()
	lead := p.IsolationAfter - p.tieBreakerLead() // a primary's round, after its last ack
	// heardAfter returns the peer's view of a heartbeat arriving d after o.Now.
	heardAfter := func(o Observation, d time.Duration) PeerView {
		v := o.Peer
		v.Alive, v.LastHeard, v.DeadAt = true, o.Now.Add(d), o.Now.Add(d+p.deadAfter())
		return v
	}
	for _, tc := range []struct {
		name      string
		obs       Observation
		edit      func(*Observation)
		tb        bool
		tbAsked   time.Duration // before Now
		after     time.Duration // the heartbeat arrives this long after Now
		view      func(o Observation, v *PeerView)
		confirmed time.Duration // after Now; -1: none newer
		wantUntil time.Duration // before the heartbeat, after Now
		wantSame  bool
		wantAfter time.Duration // after it, after Now
	}{
		{name: "primary at rest: the next ack puts the isolation round off", obs: primaryObs(), tb: true, tbAsked: ms(300),
			edit:  func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now, o.Now.Add(-ms(300)) },
			after: ms(200), confirmed: ms(200), wantUntil: lead, wantSame: true, wantAfter: ms(200) + lead},
		{name: "primary: a heartbeat that acknowledges nothing newer leaves it", obs: primaryObs(), tb: true, tbAsked: ms(300),
			edit:  func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now, o.Now.Add(-ms(300)) },
			after: ms(200), confirmed: -1, wantUntil: lead, wantSame: true, wantAfter: lead},
		{name: "primary without tie-breakers: the isolation step-down moves with the ack", obs: primaryObs(),
			edit:  func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now, o.Now.Add(-ms(300)) },
			after: ms(200), confirmed: ms(200), wantUntil: p.IsolationAfter, wantSame: true, wantAfter: ms(200) + p.IsolationAfter},
		{name: "primary: the calm round stays where it was", obs: primaryObs(), tb: true, tbAsked: ms(800),
			edit:  func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now, o.Now.Add(-ms(800)) },
			after: ms(50), confirmed: ms(50), wantUntil: ms(200), wantSame: true, wantAfter: ms(200)},
		{name: "standby at rest: the primary's heartbeat puts its death off to the calm round", obs: standbyObs(), tb: true, tbAsked: ms(50),
			edit:  func(o *Observation) { o.Peer.DeadAt = o.Peer.LastHeard.Add(p.deadAfter()) },
			after: ms(200), confirmed: ms(100), wantUntil: ms(800), wantSame: true, wantAfter: ms(800)},
		{name: "primary: a peer now primary too changes the decision", obs: primaryObs(), tb: true, tbAsked: ms(300),
			edit:  func(o *Observation) { o.ConfirmedAt, o.TieBreakerAt = o.Now, o.Now.Add(-ms(300)) },
			after: ms(200), view: func(_ Observation, v *PeerView) { v.Role, v.Epoch = RolePrimary, 6 },
			confirmed: ms(200), wantUntil: lead, wantSame: false},
		{name: "standby of a silent primary: heard again changes the decision", obs: standbyObs(), tb: true,
			edit: func(o *Observation) {
				peerDead(o)
				o.TieBreakerAt = o.Now
			},
			after: ms(10), confirmed: ms(10), wantUntil: 0, wantSame: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			if tc.edit != nil {
				tc.edit(&o)
			}
			r := rest{o: o, tieBreaker: tc.tb}
			if tc.tbAsked > 0 {
				r.tbAsked = o.Now.Add(-tc.tbAsked)
			}
			off := func(at time.Time) time.Duration {
				if at.IsZero() {
					return -1
				}
				return at.Sub(o.Now)
			}
			if got := off(r.until(p)); tc.wantUntil != 0 && got != tc.wantUntil {
				t.Errorf("until before the heartbeat: got +%s, want +%s", got, tc.wantUntil)
			}
			v := heardAfter(o, tc.after)
			if tc.view != nil {
				tc.view(o, &v)
			}
			var confirmed time.Time
			if tc.confirmed >= 0 {
				confirmed = o.Now.Add(tc.confirmed)
			}
			r2, same := r.heard(p, o.Now.Add(tc.after), v, confirmed)
			if same != tc.wantSame {
				t.Fatalf("heard: got same %v, want %v (%q → %q)", same, tc.wantSame, Decide(o, p).Reason, Decide(r2.o, p).Reason)
			}
			if !same {
				return
			}
			if got := off(r2.until(p)); got != tc.wantAfter {
				t.Errorf("until after the heartbeat: got +%s, want +%s", got, tc.wantAfter)
			}
			if err := checkNextDeadline(r2.o, p, 1); err != nil {
				t.Errorf("the observation after the heartbeat: %v", err)
			}
		})
	}
}
