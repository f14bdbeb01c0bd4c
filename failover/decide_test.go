package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
)

var decideT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// standbyObs is node-b, a healthy standby at epoch 5 beside a healthy live
// primary node-a at epoch 5, both databases at the same WAL position.
func standbyObs() Observation {
	now := decideT0
	return Observation{
		Now: now, Node: "node-b", Role: RoleStandby, Epoch: 5, Health: probe.Healthy,
		StartedAt: now.Add(-time.Hour), DB: DBStandby, WAL: 1 << 30, TieBreakerOK: true, EligibleSince: now.Add(-time.Hour),
		TieBreakerAt: now.Add(-50 * time.Millisecond), ConfirmedAt: now.Add(-150 * time.Millisecond),
		Peer: PeerView{
			Heard: true, Alive: true, Node: "node-a", Role: RolePrimary, Epoch: 5, Health: probe.Healthy,
			Eligible: true, DB: DBPrimary, WAL: 1 << 30, LastHeard: now.Add(-100 * time.Millisecond),
			HealthySince: now.Add(-time.Hour),
		},
	}
}

// primaryObs is node-a, a healthy primary at epoch 5 beside a healthy
// eligible standby node-b.
func primaryObs() Observation {
	o := standbyObs()
	o.Node, o.Role, o.DB = "node-a", RolePrimary, DBPrimary
	o.Peer.Node, o.Peer.Role, o.Peer.DB = "node-b", RoleStandby, DBStandby
	return o
}

func peerDead(o *Observation) {
	o.Peer.Alive = false
	o.Peer.LastHeard, o.ConfirmedAt = o.Now.Add(-2*time.Second), o.Now.Add(-2*time.Second)
}

func TestDecide(t *testing.T) {
	def := DefaultPolicy()
	type want struct {
		action Action
		role   Role
		epoch  uint64
		reason string
	}
	for _, tc := range []struct {
		name   string
		obs    Observation
		edit   func(o *Observation)
		policy func(p *Policy)
		want   want
		alert  string
	}{
		// Start-up.
		{name: "init waits init_dead for the peer", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.StartedAt, o.Peer = RoleInit, o.Now.Add(-time.Second), PeerView{}
		}, want: want{ActionNone, RoleInit, 5, "waiting to hear the peer (2s of init_dead 3s left)"}},
		{name: "init takes over once init_dead passed unheard", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.StartedAt, o.Peer = RoleInit, o.Now.Add(-4*time.Second), PeerView{}
		}, want: want{ActionTakeOver, RolePrimary, 6, "peer not heard within init_dead 3s"}},
		{name: "init just warmed up waits for the peer to hear it", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.Peer.Role, o.Peer.Eligible, o.StartedAt, o.EligibleSince = RoleInit, RoleInit, false, o.Now.Add(-time.Second), o.Now.Add(-500*time.Millisecond)
		}, want: want{ActionNone, RoleStandby, 5, "eligible for only 500ms of 2s: letting the peer hear it first"}},
		{name: "not eligible before: no takeover this round", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.EligibleSince = time.Time{} },
			want: want{ActionNone, RoleStandby, 5, "eligible for only 0s of 2s"}},
		{name: "eligible for twice dead_after: takes over", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.EligibleSince = o.Now.Add(-2 * time.Second) },
			want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "init without tie-breaker becomes standby", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.StartedAt, o.Peer, o.TieBreakerOK = RoleInit, o.Now.Add(-4*time.Second), PeerView{}, false
		}, want: want{ActionNone, RoleStandby, 5, "no tie-breaker target reachable"}},
		{name: "init hearing a primary becomes standby", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.StartedAt = RoleInit, o.Now
		}, want: want{ActionNone, RoleStandby, 5, "standby; node-a is primary"}},
		{name: "both init: preferred node takes over", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.Peer.Role, o.StartedAt = RoleInit, RoleInit, o.Now
		}, policy: func(p *Policy) { p.PreferredNode = "node-b" }, want: want{ActionTakeOver, RolePrimary, 6, "this node outranks node-a"}},
		{name: "both init: the other waits for the preferred", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.Peer.Role, o.StartedAt = RoleInit, RoleInit, o.Now
		}, policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionNone, RoleStandby, 5, "node-a outranks this node"}},
		{name: "both init, no preference: lower name wins", obs: primaryObs(), edit: func(o *Observation) {
			o.Role, o.Peer.Role = RoleInit, RoleInit
		}, want: want{ActionTakeOver, RolePrimary, 6, "this node outranks node-b"}},
		{name: "both standby, the preferred is not eligible: the other takes over", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleStandby, false
		}, policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionTakeOver, RolePrimary, 6, "node-a released and is not eligible"}},

		// Standby.
		{name: "standby beside a healthy primary", obs: standbyObs(), want: want{ActionNone, RoleStandby, 5, "standby; node-a is primary, healthy, eligible"}},
		{name: "standby learns a higher epoch", obs: standbyObs(), edit: func(o *Observation) { o.Peer.Epoch = 9 },
			want: want{ActionNone, RoleStandby, 9, "standby"}},
		{name: "primary dead: take over above both epochs", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.Epoch = 7 },
			want: want{ActionTakeOver, RolePrimary, 8, "taking over at epoch 8: node-a silent since"}},
		{name: "primary dead, no tie-breaker: stay", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.TieBreakerOK = false },
			want: want{ActionNone, RoleStandby, 5, "no tie-breaker target reachable: not taking over"}},
		{name: "primary dead, locally failed: restart, no takeover", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Health = probe.HealthFailed },
			want: want{ActionRestartPBX, RoleStandby, 5, "standby, service failed: restarting the PBX"}},
		{name: "locally failed with a restart under way", obs: standbyObs(), edit: func(o *Observation) { o.Health, o.RestartPending = probe.HealthFailed, true },
			want: want{ActionNone, RoleStandby, 5, "PBX restart under way"}},
		{name: "primary dead, health unknown", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Health = probe.HealthUnknown },
			want: want{ActionNone, RoleStandby, 5, "but this node is not eligible (health unknown)"}},
		{name: "primary dead, degraded standby still serves", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Health = probe.HealthDegraded },
			want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "primary dead, restart limit reached: fault", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.PBXFault = true },
			want: want{ActionNone, RoleFault, 5, "restart limit reached: not eligible"}},
		{name: "fault cleared: standby again", obs: standbyObs(), edit: func(o *Observation) { o.Role = RoleFault },
			want: want{ActionNone, RoleStandby, 5, "standby;"}},
		{name: "primary dead, 2 MiB behind: no promotion", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.WAL = o.WAL + 2<<20 },
			want: want{ActionNone, RoleStandby, 5, "2097152 WAL bytes behind node-a (max_lag_bytes 1048576): not promoting without --force"}},
		{name: "primary dead, MariaDB 10 transactions behind: no promotion", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.WAL = o.WAL + 10 },
			policy: func(p *Policy) { p.LagTransactions, p.MaxLagBytes = true, 5 },
			want:   want{ActionNone, RoleStandby, 5, "10 transactions behind node-a (max_lag_transactions 5): not promoting without --force"}},
		{name: "primary dead, 1 MiB behind: promotes", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.WAL = o.WAL + 1<<20 },
			want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "primary dead, behind, allowed by config", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.WAL = o.WAL + 2<<20 },
			policy: func(p *Policy) { p.AllowLagPromote = true }, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "primary dead, behind, switchover --force", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.WAL = o.WAL + 2<<20
			o.Switchover = SwitchoverRequest{Target: "node-b", ID: 3, Force: true}
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "no database: lag not checked", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.DB = DBNone; o.Peer.WAL = 1 << 40 },
			want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "fence first", obs: standbyObs(), edit: peerDead, policy: func(p *Policy) { p.NeedFence = true },
			want: want{ActionFencePeer, RoleStandby, 5, "fencing node-a before taking over"}},
		{name: "fence succeeded: take over", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Fence = FenceOK },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "fence failed: stay", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Fence, o.RetryAt = FenceFailed, map[Action]time.Time{ActionFencePeer: o.Now.Add(time.Second)}
		},
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "fencing node-a failed: not taking over"}},
		{name: "fence not tried without a tie-breaker", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.TieBreakerOK = false },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "no tie-breaker"}},
		{name: "peer released with failed service: take over, no fence needed", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Health, o.Peer.Eligible = RoleStandby, probe.HealthFailed, false
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionTakeOver, RolePrimary, 6, "node-a released and is not eligible (standby, failed)"}},
		{name: "peer heard again after a failed fence, released: take over, no fence", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Health, o.Peer.Eligible, o.Fence = RoleStandby, probe.HealthFailed, false, FenceFailed
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionTakeOver, RolePrimary, 6, "node-a released and is not eligible"}},
		{name: "peer heard again after a failed fence, primary: stay standby", obs: standbyObs(), edit: func(o *Observation) { o.Fence = FenceFailed },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "standby; node-a is primary"}},
		{name: "fence with the peer never heard after init_dead", obs: standbyObs(), edit: func(o *Observation) {
			o.Role, o.Peer = RoleInit, PeerView{}
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionFencePeer, RoleStandby, 5, "peer not heard within init_dead 3s: fencing peer before taking over"}},
		{name: "peer reports fault: take over", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleFault, false
		}, want: want{ActionTakeOver, RolePrimary, 6, "released and is not eligible (fault"}},
		{name: "primary reports failed but still holds: wait for its release", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Health = probe.HealthFailed
		}, want: want{ActionNone, RoleStandby, 5, "standby; node-a is primary, failed"}},

		// Primary.
		{name: "healthy primary", obs: primaryObs(), want: want{ActionNone, RolePrimary, 5, "primary at epoch 5; node-b is standby, healthy, eligible"}},
		{name: "failover_first: failed primary releases to healthy standby", obs: primaryObs(), edit: func(o *Observation) { o.Health = probe.HealthFailed },
			want: want{ActionRelease, RoleStandby, 5, "moving the VIP to healthy standby node-b first"}},
		{name: "failed primary, standby not eligible: keep the VIP and restart", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.Peer.Eligible = probe.HealthFailed, false
		}, want: want{ActionRestartPBX, RolePrimary, 5, "keeping the VIP; restarting the PBX"}},
		{name: "failed primary, standby failed too", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.Peer.Health = probe.HealthFailed, probe.HealthFailed
		}, want: want{ActionRestartPBX, RolePrimary, 5, "keeping the VIP"}},
		{name: "failed primary, peer dead: keep and restart", obs: primaryObs(), edit: func(o *Observation) { o.Health = probe.HealthFailed; peerDead(o) },
			want: want{ActionRestartPBX, RolePrimary, 5, "node-b silent since"}},
		{name: "failed primary, peer dead, restart under way", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.RestartPending = probe.HealthFailed, true
			peerDead(o)
		}, want: want{ActionNone, RolePrimary, 5, "PBX restart under way"}},
		{name: "restart_first: restart within the grace", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.FailedSince = probe.HealthFailed, o.Now.Add(-2*time.Second)
		}, policy: func(p *Policy) { p.Mode = RestartFirst }, want: want{ActionRestartPBX, RolePrimary, 5, "8s of restart_grace 10s left"}},
		{name: "restart_first: grace passed, release", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.FailedSince, o.RestartPending = probe.HealthFailed, o.Now.Add(-11*time.Second), true
		}, policy: func(p *Policy) { p.Mode = RestartFirst }, want: want{ActionRelease, RoleStandby, 5, "restart_grace 10s passed"}},
		{name: "restart limit reached: release to healthy standby as fault", obs: primaryObs(), edit: func(o *Observation) {
			o.PBXFault, o.Health = true, probe.HealthFailed
		}, want: want{ActionRelease, RoleFault, 5, "restart limit reached: releasing"}},
		{name: "restart limit reached, no standby: a degraded primary beats none", obs: primaryObs(), edit: func(o *Observation) {
			o.PBXFault, o.Health = true, probe.HealthFailed
			peerDead(o)
		}, want: want{ActionNone, RolePrimary, 5, "keeping the VIP"}},
		{name: "degraded primary keeps the role", obs: primaryObs(), edit: func(o *Observation) { o.Health = probe.HealthDegraded },
			want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "primary without tie-breaker keeps the role", obs: primaryObs(), edit: func(o *Observation) { o.TieBreakerOK = false; peerDead(o) },
			want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},

		// Holds: an action under way, a retry delay, the re-announce rate.
		{name: "fence failed, retry delay passed: fence again", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Fence, o.RetryAt = FenceFailed, map[Action]time.Time{ActionFencePeer: o.Now}
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionFencePeer, RoleStandby, 5, "fencing node-a before taking over"}},
		{name: "fence under way: nothing else starts", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Busy = ActionFencePeer },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "fence_peer under way; node-a silent since"}},
		{name: "takeover under way: role and epoch stay", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Busy = ActionTakeOver },
			want: want{ActionNone, RoleStandby, 5, "take_over under way; taking over at epoch 6"}},
		{name: "release under way: stays primary", obs: primaryObs(), edit: func(o *Observation) { o.Health, o.Busy = probe.HealthFailed, ActionRelease },
			want: want{ActionNone, RolePrimary, 5, "release under way; service failed"}},
		{name: "takeover failed a moment ago: waits as standby", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.RetryAt = map[Action]time.Time{ActionTakeOver: o.Now.Add(1500 * time.Millisecond)}
		}, want: want{ActionNone, RoleStandby, 5, "taking over at epoch 6: node-a silent since 2026-03-01T11:59:58.000Z; take_over again in 1.5s"}},
		{name: "takeover retry delay passed: takes over", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.RetryAt = map[Action]time.Time{ActionTakeOver: o.Now}
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over at epoch 6"}},
		{name: "waiting to retry a takeover, a standby still learns the epoch", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible, o.Peer.Epoch = RoleStandby, false, 7
			o.RetryAt = map[Action]time.Time{ActionTakeOver: o.Now.Add(time.Second)}
		}, want: want{ActionNone, RoleStandby, 7, "take_over again in 1s"}},
		{name: "release failed a moment ago: stays primary", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.RetryAt = probe.HealthFailed, map[Action]time.Time{ActionRelease: o.Now.Add(time.Second)}
		}, want: want{ActionNone, RolePrimary, 5, "release again in 1s"}},
		{name: "restart ran a moment ago: waits", obs: standbyObs(), edit: func(o *Observation) {
			o.Health, o.RetryAt = probe.HealthFailed, map[Action]time.Time{ActionRestartPBX: o.Now.Add(time.Second)}
		}, want: want{ActionNone, RoleStandby, 5, "restart_pbx again in 1s"}},
		{name: "re-announced a moment ago: not again", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Epoch, o.LastAnnounce = RolePrimary, 4, o.Now.Add(-500*time.Millisecond)
		}, want: want{ActionNone, RolePrimary, 5, "re-announcing the VIP"}, alert: event.SplitBrain},
		{name: "re-announced a second ago: again", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Epoch, o.LastAnnounce = RolePrimary, 4, o.Now.Add(-ReAnnounceEvery)
		}, want: want{ActionReAnnounce, RolePrimary, 5, "re-announcing the VIP"}, alert: event.SplitBrain},

		// Isolation: step down before the peer may take over.
		{name: "isolated: unheard by the peer and no tie-breaker for isolation_after", obs: primaryObs(), edit: func(o *Observation) {
			peerDead(o)
			o.TieBreakerOK, o.TieBreakerAt = false, o.Now.Add(-500*time.Millisecond)
		}, want: want{ActionStepDown, RoleStandby, 5, "isolated: node-b has not heard this node for 2s and no tie-breaker target answered for 500ms"}},
		{name: "isolated even in maintenance", obs: primaryObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Maintenance, o.TieBreakerOK, o.TieBreakerAt = true, false, time.Time{}
		}, want: want{ActionStepDown, RoleStandby, 5, "no tie-breaker target answered for ever"}},
		{name: "peer silent, tie-breaker answers: stays primary", obs: primaryObs(), edit: peerDead,
			want: want{ActionNone, RolePrimary, 5, "primary at epoch 5; node-b silent since"}},
		{name: "tie-breaker lost but the peer hears this node: stays primary", obs: primaryObs(), edit: func(o *Observation) {
			o.TieBreakerOK, o.TieBreakerAt = false, time.Time{}
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "isolation_after not yet reached", obs: primaryObs(), edit: func(o *Observation) {
			peerDead(o)
			o.ConfirmedAt, o.TieBreakerOK, o.TieBreakerAt = o.Now.Add(-300*time.Millisecond), false, o.Now.Add(-time.Second)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "one-way cut: the live peer has not heard this node long enough to take over", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.ConfirmedAt = 2, o.Now.Add(-900*time.Millisecond)
		}, want: want{ActionStepDown, RoleStandby, 5, "node-b is heard but had not heard this node for 800ms when it last wrote, and could take over"}},
		{name: "one-way cut, not long enough yet (three heartbeats lost in a row)", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.ConfirmedAt = 2, o.Now.Add(-800*time.Millisecond)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "one-way cut with the VIP witness: the witness, not a step-down, keeps the peer from taking over", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.ConfirmedAt = 2, o.Now.Add(-2*time.Second)
		}, policy: func(p *Policy) { p.Witness = true }, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "peer fell silent (link cut both ways, tie-breaker answers): its last heartbeat heard this node", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.Peer.LastHeard, o.ConfirmedAt = 2, o.Now.Add(-900*time.Millisecond), o.Now.Add(-1000*time.Millisecond)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "one-way cut, the peer not eligible: stays primary", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.Peer.Eligible, o.ConfirmedAt = 2, false, o.Now.Add(-800*time.Millisecond)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "one-way cut to a format 1 peer: no acknowledgements to judge by", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Version, o.ConfirmedAt = 1, o.Now.Add(-800*time.Millisecond)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "a live peer that does not hear this standby: no takeover", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible, o.Peer.Version, o.ConfirmedAt = RoleStandby, false, 2, o.Now.Add(-2*time.Second)
		}, want: want{ActionNone, RoleStandby, 5, "node-a does not hear this node: not taking over"}},
		{name: "just stepped down, still isolated, the silent peer not dead yet: no takeover", obs: standbyObs(), edit: func(o *Observation) {
			// Right after an isolated primary stepped down: the peer, a
			// standby, last heard 470ms ago (alive until dead_after);
			// the tie-breaker last answered 450ms ago (TieBreakerOK
			// counts an answer for dead_after/2); this node unheard for
			// 560ms.
			o.Peer.Role, o.Peer.Version, o.Peer.LastHeard = RoleStandby, 2, o.Now.Add(-470*time.Millisecond)
			o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-560*time.Millisecond), o.Now.Add(-450*time.Millisecond)
		}, policy: func(p *Policy) { p.PreferredNode = "node-b" }, want: want{ActionNone, RoleStandby, 5, "but isolated: node-a has not heard this node for 560ms and no tie-breaker target answered for 450ms (isolation_after 400ms): not taking over"}},
		{name: "isolation off", obs: primaryObs(), edit: func(o *Observation) {
			peerDead(o)
			o.TieBreakerOK, o.TieBreakerAt = false, time.Time{}
		}, policy: func(p *Policy) { p.IsolationAfter = 0 }, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},
		{name: "standby waits until a cut-off primary has stepped down", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.LastHeard, o.Peer.StepDown = o.Now.Add(-1200*time.Millisecond), time.Second
		}, want: want{ActionNone, RoleStandby, 5, "silent for 1.2s: taking over once 2.131s have passed"}},
		{name: "standby waits until a cut-off primary has stepped down (witness: isolation only)", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.LastHeard, o.Peer.StepDown, o.Witness = o.Now.Add(-1200*time.Millisecond), time.Second, WitnessAbsent
		}, policy: func(p *Policy) { p.Witness = true }, want: want{ActionNone, RoleStandby, 5, "silent for 1.2s: taking over once 1.727s have passed"}},
		{name: "standby takes over once a cut-off primary has stepped down", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.LastHeard, o.Peer.StepDown = o.Now.Add(-2200*time.Millisecond), time.Second
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over at epoch 6"}},
		{name: "fenced: no wait for the step-down", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.LastHeard, o.Peer.StepDown, o.Fence = o.Now.Add(-1200*time.Millisecond), time.Second, FenceOK
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionTakeOver, RolePrimary, 6, "taking over at epoch 6"}},
		{name: "witness: asked before taking over", obs: standbyObs(), edit: peerDead,
			policy: func(p *Policy) { p.Witness = true }, want: want{ActionWitness, RoleStandby, 5, "asking whether another node still answers on the VIP"}},
		{name: "witness: the VIP still answers: no takeover", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Witness, o.RetryAt = WitnessHeld, map[Action]time.Time{ActionWitness: o.Now.Add(time.Second)}
		}, policy: func(p *Policy) { p.Witness = true }, want: want{ActionNone, RoleStandby, 5, "another node still answers on the VIP: node-a still serves"}},
		{name: "witness: asked again after a while", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Witness, o.RetryAt = WitnessHeld, map[Action]time.Time{ActionWitness: o.Now}
		}, policy: func(p *Policy) { p.Witness = true }, want: want{ActionWitness, RoleStandby, 5, "asking whether"}},
		{name: "witness: nobody answers: takes over", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Witness = WitnessAbsent },
			policy: func(p *Policy) { p.Witness = true }, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "witness while a fence runs: waits", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.AuxBusy = ActionFencePeer },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "fence_peer under way"}},

		{name: "stepped down as cut off: no takeover until heard", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleStandby, false
			// Heard 300ms ago, so not isolated by the clock alone: the
			// step-down is what keeps it from taking over.
			o.SteppedDownAt, o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-40*time.Millisecond), o.Now.Add(-300*time.Millisecond), o.Now.Add(-420*time.Millisecond)
		}, want: want{ActionNone, RoleStandby, 5, "this node stepped down as cut off at 2026-03-01T11:59:59.960Z and has not been heard by node-a nor reached a tie-breaker since"}},
		{name: "stepped down as cut off, a tie-breaker answered since: the usual rules", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleStandby, false
			o.SteppedDownAt, o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-400*time.Millisecond), o.Now.Add(-800*time.Millisecond), o.Now.Add(-50*time.Millisecond)
		}, want: want{ActionTakeOver, RolePrimary, 6, "node-a released and is not eligible"}},
		{name: "stepped down as cut off, heard since: the usual rules", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible = RoleStandby, false
			o.SteppedDownAt, o.ConfirmedAt, o.TieBreakerAt = o.Now.Add(-400*time.Millisecond), o.Now.Add(-100*time.Millisecond), o.Now.Add(-450*time.Millisecond)
		}, want: want{ActionTakeOver, RolePrimary, 6, "node-a released and is not eligible"}},
		{name: "restarting primary: held, not fenced", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.Restarting = true },
			policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionNone, RoleStandby, 5, "its sidecar is restarting with the role kept: holding for up to 20s (18s left)"}},
		{name: "restarting primary: the hold ends", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.Restarting, o.Peer.LastHeard = true, o.Now.Add(-21*time.Second)
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "restarting primary: restart_hold is the policy's", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.Restarting = true },
			policy: func(p *Policy) { p.RestartHold = 2 * time.Second }, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "restarting standby: no hold", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.Restarting, o.Peer.Role, o.Role = true, RoleStandby, RoleStandby
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "restarting primary, witness: asks whether the host answers", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.Peer.Restarting = true },
			policy: func(p *Policy) { p.Witness, p.NeedFence = true, true }, want: want{ActionWitness, RoleStandby, 5, "restarting its sidecar: asking whether its host still answers"}},
		{name: "restarting primary, witness held: held", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.Restarting, o.Witness, o.RetryAt = true, WitnessHeld, map[Action]time.Time{ActionWitness: o.Now.Add(time.Second)}
		}, policy: func(p *Policy) { p.Witness = true }, want: want{ActionNone, RoleStandby, 5, "holding for up to 20s"}},
		{name: "restarting primary, host gone: fenced, then taken over", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.Restarting, o.Witness = true, WitnessAbsent
		}, policy: func(p *Policy) { p.Witness, p.NeedFence = true, true }, want: want{ActionFencePeer, RoleStandby, 5, "fencing node-a"}},
		{name: "restarting primary still heard: standby as ever", obs: standbyObs(), edit: func(o *Observation) { o.Peer.Restarting = true },
			want: want{ActionNone, RoleStandby, 5, "standby; node-a is primary"}},
		{name: "silent peer whose heartbeats fail the MAC: another key, no takeover", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.BadMACAt = o.Now.Add(-100 * time.Millisecond)
		}, want: want{ActionNone, RoleStandby, 5, "heartbeats from node-a's address fail the MAC: it lives with another key"}},
		{name: "silent peer, a bad MAC long ago: takes over", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Peer.BadMACAt = o.Now.Add(-time.Hour)
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "silent peer while the heartbeat sockets drop datagrams unread: no takeover", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.HeartbeatLossAt = o.Now.Add(-100 * time.Millisecond)
		}, want: want{ActionNone, RoleStandby, 5, "heartbeat sockets are dropping datagrams unread (a flood?)"}},
		{name: "silent peer, heartbeat datagrams lost long ago: takes over", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.HeartbeatLossAt = o.Now.Add(-2 * time.Second)
		}, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},
		{name: "silent peer, datagrams lost, the peer fenced: takes over", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.HeartbeatLossAt, o.Fence = o.Now.Add(-100*time.Millisecond), FenceOK
		}, policy: func(p *Policy) { p.NeedFence = true }, want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},

		// VIP and link tracking.
		{name: "the VIP left the primary: put back", obs: primaryObs(), edit: func(o *Observation) { o.VIP = VIPAbsent },
			want: want{ActionRestoreVIP, RolePrimary, 5, "the VIP left this node's interface: putting it back"}},
		{name: "a standby holding the VIP drops it", obs: standbyObs(), edit: func(o *Observation) { o.VIP = VIPHeld },
			want: want{ActionDropVIP, RoleStandby, 5, "holds the VIP: removing it"}},
		{name: "the VIP put back while a restart runs (a move may start beside it)", obs: primaryObs(), edit: func(o *Observation) { o.VIP, o.AuxBusy = VIPAbsent, ActionRestartPBX },
			want: want{ActionRestoreVIP, RolePrimary, 5, "putting it back"}},
		{name: "tracked link down on the primary: releases to the healthy standby", obs: primaryObs(), edit: func(o *Observation) { o.LinkDown = "eth1" },
			want: want{ActionRelease, RoleStandby, 5, "tracked link eth1 lost carrier: moving the VIP to healthy standby node-b first"}},
		{name: "tracked link down, no standby ready: keeps the VIP, no restart", obs: primaryObs(), edit: func(o *Observation) { o.LinkDown, o.Peer.Eligible = "eth1", false },
			want: want{ActionNone, RolePrimary, 5, "a restart of the PBX would not bring the link back"}},
		{name: "tracked link down on the standby: not eligible", obs: standbyObs(), edit: func(o *Observation) { peerDead(o); o.LinkDown = "eth1" },
			want: want{ActionNone, RoleStandby, 5, "tracked link eth1 without carrier: not eligible"}},

		// A node without a peer.
		{name: "single: primary", obs: standbyObs(), edit: func(o *Observation) { o.Role, o.Peer = RoleInit, PeerView{} },
			policy: func(p *Policy) { p.Single = true }, want: want{ActionNone, RolePrimary, 5, "single node: primary"}},
		{name: "single: maintenance", obs: primaryObs(), edit: func(o *Observation) { o.Peer, o.Maintenance = PeerView{}, true },
			policy: func(p *Policy) { p.Single = true }, want: want{ActionNone, RoleMaintenance, 5, "maintenance mode"}},
		{name: "single: fault past the restart limit", obs: primaryObs(), edit: func(o *Observation) { o.Peer, o.PBXFault = PeerView{}, true },
			policy: func(p *Policy) { p.Single = true }, want: want{ActionNone, RoleFault, 5, "restart limit"}},
		{name: "single: failed health restarts nothing (the supervisor does)", obs: primaryObs(), edit: func(o *Observation) { o.Peer, o.Health = PeerView{}, probe.HealthFailed },
			policy: func(p *Policy) { p.Single = true }, want: want{ActionNone, RolePrimary, 5, "single node: primary"}},

		// Two primaries.
		{name: "split brain: lower epoch releases", obs: primaryObs(), edit: func(o *Observation) { o.Peer.Role, o.Peer.Epoch = RolePrimary, 6 },
			// The release keeps epoch 5: the standby it becomes learns 6.
			want: want{ActionRelease, RoleStandby, 5, "split brain: node-b is primary at epoch 6, ours 5: releasing"}, alert: event.SplitBrain},
		{name: "split brain released: the standby learns the higher epoch", obs: standbyObs(), edit: func(o *Observation) { o.Peer.Epoch = 6 },
			want: want{ActionNone, RoleStandby, 6, "standby; node-a is primary"}},
		{name: "split brain: higher epoch re-announces", obs: primaryObs(), edit: func(o *Observation) { o.Peer.Role, o.Peer.Epoch = RolePrimary, 4 },
			want: want{ActionReAnnounce, RolePrimary, 5, "staying primary, re-announcing the VIP"}, alert: event.SplitBrain},
		{name: "split brain: higher epoch stays even when failed", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Epoch, o.Health = RolePrimary, 4, probe.HealthFailed
		}, want: want{ActionReAnnounce, RolePrimary, 5, "re-announcing"}, alert: event.SplitBrain},
		{name: "split brain, equal epochs: preferred stays", obs: primaryObs(), edit: func(o *Observation) { o.Peer.Role = RolePrimary },
			policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionReAnnounce, RolePrimary, 5, "re-announcing"}, alert: event.SplitBrain},
		{name: "split brain, equal epochs: non-preferred releases", obs: primaryObs(), edit: func(o *Observation) { o.Peer.Role = RolePrimary },
			policy: func(p *Policy) { p.PreferredNode = "node-b" }, want: want{ActionRelease, RoleStandby, 5, "releasing"}, alert: event.SplitBrain},
		{name: "split brain, equal epochs, no preference: higher name releases", obs: standbyObs(), edit: func(o *Observation) { o.Role = RolePrimary },
			want: want{ActionRelease, RoleStandby, 5, "releasing"}, alert: event.SplitBrain},
		{name: "primary whose peer was primary but is now dead: no split brain", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Epoch = RolePrimary, 9
			peerDead(o)
		}, want: want{ActionNone, RolePrimary, 5, "primary at epoch 5"}},

		// Maintenance.
		{name: "maintenance freezes a standby whose primary died", obs: standbyObs(), edit: func(o *Observation) { o.Maintenance = true; peerDead(o) },
			want: want{ActionNone, RoleMaintenance, 5, "maintenance mode: automatic action frozen"}},
		{name: "maintenance freezes a failed primary", obs: primaryObs(), edit: func(o *Observation) { o.Maintenance, o.Health = true, probe.HealthFailed },
			want: want{ActionNone, RolePrimary, 5, "maintenance mode"}},
		{name: "maintenance freezes split-brain resolution", obs: primaryObs(), edit: func(o *Observation) {
			o.Maintenance, o.Peer.Role, o.Peer.Epoch = true, RolePrimary, 8
		}, want: want{ActionNone, RolePrimary, 5, "maintenance mode"}, alert: event.SplitBrain},
		{name: "peer in maintenance freezes this node", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Maintenance, o.Peer.Health = true, probe.HealthFailed
		}, want: want{ActionNone, RoleStandby, 5, "peer node-a in maintenance mode"}},
		{name: "maintenance ended: standby again", obs: standbyObs(), edit: func(o *Observation) { o.Role = RoleMaintenance },
			want: want{ActionNone, RoleStandby, 5, "standby;"}},
		{name: "a dead peer's maintenance flag no longer freezes", obs: standbyObs(), edit: func(o *Observation) { o.Peer.Maintenance = true; peerDead(o) },
			want: want{ActionTakeOver, RolePrimary, 6, "taking over"}},

		// Planned switchover.
		{name: "switchover: primary releases to a healthy standby", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover = SwitchoverRequest{Target: "node-b", ID: 11}
		}, want: want{ActionRelease, RoleStandby, 5, "switchover 11 to node-b: releasing"}},
		{name: "switchover without target means the other node", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover = SwitchoverRequest{ID: 12}
		}, want: want{ActionRelease, RoleStandby, 5, "switchover 12 to node-b"}},
		{name: "switchover asked on the standby reaches the primary", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Switchover = SwitchoverRequest{Target: "node-b", ID: 13}
		}, want: want{ActionRelease, RoleStandby, 5, "switchover 13"}},
		{name: "switchover waits for a degraded standby", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover, o.Peer.Health = SwitchoverRequest{Target: "node-b", ID: 14}, probe.HealthDegraded
		}, want: want{ActionNone, RolePrimary, 5, "switchover 14 to node-b waits"}},
		{name: "switchover refused to a lagging standby", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover, o.Peer.Eligible = SwitchoverRequest{Target: "node-b", ID: 15}, false
		}, want: want{ActionNone, RolePrimary, 5, "not a healthy eligible standby"}},
		{name: "switchover target waits for the release", obs: standbyObs(), edit: func(o *Observation) {
			o.Switchover = SwitchoverRequest{Target: "node-b", ID: 16}
		}, want: want{ActionNone, RoleStandby, 5, "switchover 16: waiting for node-a to release"}},
		{name: "switchover target takes over after the release, even if not preferred", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Switchover = RoleStandby, SwitchoverRequest{Target: "node-b", ID: 17}
		}, policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionTakeOver, RolePrimary, 6, "switchover 17 to this node"}},
		{name: "unsupervised PBX: a failed standby does not restart", obs: standbyObs(), edit: func(o *Observation) { o.Health = probe.HealthFailed },
			policy: func(p *Policy) { p.NoRestart = true }, want: want{ActionNone, RoleStandby, 5, "the PBX is not supervised: waiting for it to recover"}},
		{name: "unsupervised PBX: a failed primary without a ready standby keeps the VIP, no restart", obs: primaryObs(), edit: func(o *Observation) {
			o.Health = probe.HealthFailed
			peerDead(o)
		}, policy: func(p *Policy) { p.NoRestart = true }, want: want{ActionNone, RolePrimary, 5, "keeping the VIP; the PBX is not supervised: not restarting it"}},
		{name: "unsupervised PBX: a failed primary still releases to a ready standby", obs: primaryObs(), edit: func(o *Observation) { o.Health = probe.HealthFailed },
			policy: func(p *Policy) { p.NoRestart = true }, want: want{ActionRelease, RoleStandby, 5, "moving the VIP to healthy standby"}},
		{name: "database-only failure: a standby does not restart the PBX", obs: standbyObs(), edit: func(o *Observation) {
			o.Health, o.DBOnlyFailed = probe.HealthFailed, true
		}, want: want{ActionNone, RoleStandby, 5, "standby, only its database failed: not restarting the PBX"}},
		{name: "database-only failure: a primary without a ready standby keeps the VIP, no restart", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.DBOnlyFailed = probe.HealthFailed, true
			peerDead(o)
		}, want: want{ActionNone, RolePrimary, 5, "only the database failed: not restarting the PBX"}},
		{name: "database-only failure: a primary still releases to a ready standby", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.DBOnlyFailed = probe.HealthFailed, true
		}, want: want{ActionRelease, RoleStandby, 5, "moving the VIP to healthy standby"}},
		{name: "a starting peer is not called released", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible, o.Peer.Health = RoleInit, false, probe.HealthUnknown
		}, want: want{ActionTakeOver, RolePrimary, 6, "node-a is starting and not eligible yet (health unknown)"}},
		{name: "switchover target just eligible takes over without the hold", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Switchover, o.EligibleSince = RoleStandby, SwitchoverRequest{Target: "node-b", ID: 20}, o.Now
		}, want: want{ActionTakeOver, RolePrimary, 6, "switchover 20 to this node"}},
		{name: "no switchover: a just eligible standby waits out the hold", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.Eligible, o.EligibleSince = RoleStandby, false, o.Now
		}, want: want{ActionNone, RoleStandby, 5, "eligible for only 0s of 2s"}},
		{name: "switchover target with a silent peer keeps the hold", obs: standbyObs(), edit: func(o *Observation) {
			peerDead(o)
			o.Switchover, o.EligibleSince = SwitchoverRequest{Target: "node-b", ID: 21}, o.Now
		}, want: want{ActionNone, RoleStandby, 5, "eligible for only 0s of 2s"}},
		{name: "switchover to the peer: the released node waits", obs: primaryObs(), edit: func(o *Observation) {
			o.Role, o.Switchover = RoleStandby, SwitchoverRequest{Target: "node-b", ID: 18}
		}, policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionNone, RoleStandby, 5, "switchover 18: node-b is to take over"}},
		{name: "forced switchover promotes a lagging target", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.WAL = RoleStandby, o.WAL+5<<20
			o.Switchover = SwitchoverRequest{Target: "node-b", ID: 19, Force: true}
		}, want: want{ActionTakeOver, RolePrimary, 6, "switchover 19"}},
		{name: "unforced switchover does not promote a lagging target", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role, o.Peer.WAL = RoleStandby, o.WAL+5<<20
			o.Switchover = SwitchoverRequest{Target: "node-b", ID: 20}
		}, want: want{ActionNone, RoleStandby, 5, "WAL bytes behind"}},
		{name: "switchover waits while no standby streams from the primary's database", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover, o.NoStreamingStandby = SwitchoverRequest{Target: "node-b", ID: 22}, true
		}, want: want{ActionNone, RolePrimary, 5, "switchover 22 to node-b waits: no standby is streaming from this node's database (writes it has not received would be lost); --force moves anyway"}},
		{name: "switchover asked on the target waits too while nothing streams", obs: primaryObs(), edit: func(o *Observation) {
			o.Peer.Switchover, o.NoStreamingStandby = SwitchoverRequest{Target: "node-b", ID: 23}, true
		}, want: want{ActionNone, RolePrimary, 5, "switchover 23 to node-b waits: no standby is streaming"}},
		{name: "switchover to an unready standby names that first", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover, o.Peer.Eligible, o.NoStreamingStandby = SwitchoverRequest{Target: "node-b", ID: 24}, false, true
		}, want: want{ActionNone, RolePrimary, 5, "switchover 24 to node-b waits: it is not a healthy eligible standby"}},
		{name: "forced switchover releases although nothing streams", obs: primaryObs(), edit: func(o *Observation) {
			o.Switchover, o.NoStreamingStandby = SwitchoverRequest{Target: "node-b", ID: 25, Force: true}, true
		}, want: want{ActionRelease, RoleStandby, 5, "switchover 25 to node-b, forced: releasing although no standby is streaming"}},
		{name: "failed primary releases although nothing streams (max_lag_bytes governs)", obs: primaryObs(), edit: func(o *Observation) {
			o.Health, o.NoStreamingStandby = probe.HealthFailed, true
		}, want: want{ActionRelease, RoleStandby, 5, "service failed: moving the VIP to healthy standby node-b first"}},
		{name: "primary at its restart limit releases although nothing streams", obs: primaryObs(), edit: func(o *Observation) {
			o.PBXFault, o.NoStreamingStandby = true, true
		}, want: want{ActionRelease, RoleFault, 5, "restart limit reached: releasing"}},

		// Failback.
		{name: "failback auto: after the delay, asks the preferred node to take over (a switchover)", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" },
			want: want{ActionFailback, RolePrimary, 5, "failback to preferred node node-a, healthy for 6m0s: asking it to take over as in a switchover"}},
		{name: "failback: the request made, it releases as in a switchover", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
			o.Switchover = SwitchoverRequest{Target: "node-a", ID: 77}
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" },
			want: want{ActionRelease, RoleStandby, 5, "switchover 77 to node-a: releasing"}},
		{name: "failback waits for its window", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
		}, policy: func(p *Policy) {
			p.Failback, p.PreferredNode = FailbackAuto, "node-a"
			p.FailbackWindow = Window{From: time.Hour, To: 5 * time.Hour} // decideT0 is 12:00
		}, want: want{ActionNone, RolePrimary, 5, "failback to preferred node node-a waits for its window 01:00-05:00"}},
		{name: "failback in its window", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
		}, policy: func(p *Policy) {
			p.Failback, p.PreferredNode = FailbackAuto, "node-a"
			p.FailbackWindow = Window{From: 22 * time.Hour, To: 13 * time.Hour} // over midnight, 12:00 inside
		}, want: want{ActionFailback, RolePrimary, 5, "asking it to take over"}},
		{name: "failback waits for the calls to drain", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
			o.ActiveCalls, o.CallsCounted, o.FailbackDueSince = 3, true, o.Now.Add(-time.Minute)
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" },
			want: want{ActionNone, RolePrimary, 5, "waits for 3 active call(s) to end (4m0s of failback_drain 5m0s left)"}},
		{name: "failback after the drain limit, calls or not", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-6*time.Minute)
			o.ActiveCalls, o.CallsCounted, o.FailbackDueSince = 3, true, o.Now.Add(-5*time.Minute)
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" },
			want: want{ActionFailback, RolePrimary, 5, "asking it to take over"}},
		{name: "failback auto waits while no standby streams from the primary's database", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince, o.NoStreamingStandby = "node-b", "node-a", o.Now.Add(-6*time.Minute), true
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" },
			want: want{ActionNone, RolePrimary, 5, "failback to preferred node node-a waits: no standby is streaming"}},
		{name: "failback auto: not before the delay", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node, o.Peer.HealthySince = "node-b", "node-a", o.Now.Add(-time.Minute)
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" }, want: want{ActionNone, RolePrimary, 5, "primary at epoch"}},
		{name: "failback off: sticky", obs: primaryObs(), edit: func(o *Observation) {
			o.Node, o.Peer.Node = "node-b", "node-a"
		}, policy: func(p *Policy) { p.PreferredNode = "node-a" }, want: want{ActionNone, RolePrimary, 5, "primary at epoch"}},
		{name: "failback auto on the preferred primary: nothing to do", obs: primaryObs(),
			policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" }, want: want{ActionNone, RolePrimary, 5, "primary"}},
		{name: "failback auto, then the released node waits for the preferred", obs: standbyObs(), edit: func(o *Observation) {
			o.Peer.Role = RoleStandby
		}, policy: func(p *Policy) { p.Failback, p.PreferredNode = FailbackAuto, "node-a" }, want: want{ActionNone, RoleStandby, 5, "node-a outranks this node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			if tc.edit != nil {
				tc.edit(&o)
			}
			p := def
			if tc.policy != nil {
				tc.policy(&p)
			}
			d := Decide(o, p)
			if d.Action != tc.want.action || d.Role != tc.want.role || d.NextEpoch != tc.want.epoch {
				t.Errorf("got %s → %s epoch %d, want %s → %s epoch %d (reason %q)", d.Action, d.Role, d.NextEpoch, tc.want.action, tc.want.role, tc.want.epoch, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.want.reason) {
				t.Errorf("got reason %q, want it to contain %q", d.Reason, tc.want.reason)
			}
			if strings.ContainsAny(d.Reason, "\r\n") {
				t.Errorf("got a multi-line reason %q, want one line", d.Reason)
			}
			if d.Alert != tc.alert {
				t.Errorf("got alert %q, want %q", d.Alert, tc.alert)
			}
			if again := Decide(o, p); again != d {
				t.Errorf("got %+v on a second call, want the same %+v (pure)", again, d)
			}
		})
	}
}

func TestDecideEligible(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(o *Observation)
		want bool
	}{
		{"healthy standby", func(o *Observation) {}, true},
		{"degraded standby", func(o *Observation) { o.Health = probe.HealthDegraded }, true},
		{"failed", func(o *Observation) { o.Health = probe.HealthFailed }, false},
		{"health unknown", func(o *Observation) { o.Health = probe.HealthUnknown }, false},
		{"fault", func(o *Observation) { o.PBXFault = true }, false},
		{"maintenance", func(o *Observation) { o.Maintenance = true }, false},
		{"no tie-breaker", func(o *Observation) { o.TieBreakerOK = false }, false},
		{"too far behind", func(o *Observation) { o.Peer.WAL = o.WAL + 2<<20 }, false},
		{"too far behind, forced by the peer's request", func(o *Observation) {
			o.Peer.WAL = o.WAL + 2<<20
			o.Peer.Switchover = SwitchoverRequest{Target: "node-b", ID: 1, Force: true}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := standbyObs()
			tc.edit(&o)
			if got := Decide(o, DefaultPolicy()).Eligible; got != tc.want {
				t.Errorf("got eligible %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecisionEligibleSince(t *testing.T) {
	t1, t2 := decideT0, decideT0.Add(time.Second)
	for _, tc := range []struct {
		name     string
		eligible bool
		prev     time.Time
		want     time.Time
	}{
		{"becomes eligible", true, time.Time{}, t2},
		{"stays eligible", true, t1, t1},
		{"stops being eligible", false, t1, time.Time{}},
		{"stays not eligible", false, time.Time{}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Decision{Eligible: tc.eligible}).EligibleSince(tc.prev, t2); !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	o, p := standbyObs(), DefaultPolicy()
	o.Peer.Alive = false
	b.ReportAllocs()
	for b.Loop() {
		Decide(o, p)
	}
}

// TestDecideForce: a takeover carries Force exactly when a forced switchover
// to this node is in force, asked here or on the peer: the database
// promotion then goes past max_lag_bytes as Decide allowed.
func TestDecideForce(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(o *Observation)
		want bool
	}{
		{"failover", func(o *Observation) {}, false},
		{"switchover to this node", func(o *Observation) { o.Switchover = SwitchoverRequest{Target: "node-b", ID: 1} }, false},
		{"forced switchover asked here", func(o *Observation) { o.Switchover = SwitchoverRequest{Target: "node-b", ID: 1, Force: true} }, true},
		{"forced switchover asked on the peer", func(o *Observation) {
			o.Peer.Alive, o.Peer.Role, o.Peer.Switchover = true, RoleStandby, SwitchoverRequest{Target: "node-b", ID: 2, Force: true}
		}, true},
		{"forced switchover to the peer", func(o *Observation) { o.Switchover = SwitchoverRequest{Target: "node-a", ID: 3, Force: true} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := standbyObs()
			peerDead(&o)
			tc.edit(&o)
			d := Decide(o, DefaultPolicy())
			if d.Action != ActionTakeOver || d.Force != tc.want {
				t.Errorf("got %s force %v, want take_over force %v (%s)", d.Action, d.Force, tc.want, d.Reason)
			}
		})
	}
}
