package coord

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{LeaseTTL: time.Second, StepDown: 100 * time.Millisecond, Tick: 50 * time.Millisecond,
		MaxLagBytes: 1000, Mode: failover.FailoverFirst, RestartGrace: 10 * time.Second, FailbackDelay: 5 * time.Second}
}

// leaderObs is a healthy leader of three nodes with a fresh lease.
func leaderObs() Observation {
	return Observation{
		Now: t0, Node: "n1", Role: failover.RolePrimary, Epoch: 4, Priority: 100, Synced: true, StartedAt: t0.Add(-time.Hour),
		Local:     failover.LocalState{Health: probe.Healthy, TieBreakerOK: true},
		SafeUntil: t0.Add(900 * time.Millisecond), Leader: "n1", LeaderMine: true,
		Members: []Member{
			{Node: "n2", Role: failover.RoleStandby, Health: probe.Healthy, Eligible: true, Priority: 100},
			{Node: "n3", Role: failover.RoleStandby, Health: probe.Healthy, Eligible: true, Priority: 50},
		},
	}
}

// followerObs is a healthy standby of three nodes with no leader for 100ms.
func followerObs() Observation {
	o := leaderObs()
	o.Node, o.Role, o.Leader, o.LeaderMine, o.NoLeaderSince = "n2", failover.RoleStandby, "", false, t0.Add(-100*time.Millisecond)
	o.Members = []Member{{Node: "n3", Role: failover.RoleStandby, Health: probe.Healthy, Eligible: true, Priority: 50}}
	return o
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		obs        func(o *Observation)
		follower   bool
		policy     func(p *Policy)
		wantAction failover.Action
		wantRole   failover.Role
		wantReason string // a substring
		wantElig   *bool
	}{
		{name: "not synced: init", obs: func(o *Observation) { o.Synced = false }, follower: true,
			wantAction: failover.ActionNone, wantRole: failover.RoleInit, wantReason: "first read"},
		{name: "healthy leader stays", wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "leader at epoch 4"},
		{name: "leader before the step-down point stays",
			obs:        func(o *Observation) { o.SafeUntil = t0.Add(221 * time.Millisecond) }, // 100 budget + 120 margin
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary},
		{name: "leader at the step-down point steps down",
			obs:        func(o *Observation) { o.SafeUntil = t0.Add(220 * time.Millisecond) },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby, wantReason: "before it can expire"},
		{name: "leader without a lease steps down",
			obs:        func(o *Observation) { o.SafeUntil = time.Time{} },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby, wantReason: "no etcd lease"},
		{name: "leader whose key is gone steps down",
			obs:        func(o *Observation) { o.LeaderMine, o.Leader = false, "" },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby, wantReason: "leader key is gone"},
		{name: "leader whose key another holds steps down",
			obs:        func(o *Observation) { o.LeaderMine, o.Leader = false, "n2" },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby, wantReason: "held by n2"},
		{name: "step-down in maintenance too",
			obs:        func(o *Observation) { o.Local.Maintenance = true; o.SafeUntil = t0 },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby},
		{name: "step-down interrupts a takeover",
			obs:        func(o *Observation) { o.Busy = failover.ActionTakeOver; o.SafeUntil = t0 },
			wantAction: failover.ActionStepDown, wantRole: failover.RoleStandby},
		{name: "leader in maintenance stays",
			obs:        func(o *Observation) { o.Local.Maintenance = true; o.Local.Health = probe.HealthFailed },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "maintenance"},
		{name: "member in maintenance freezes the leader",
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed; o.Members[1].Maintenance = true },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "n3 in maintenance"},
		{name: "failed leader hands over (failover_first)",
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed },
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby, wantReason: "n2 is ready"},
		{name: "failed leader restarts first (restart_first)",
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed; o.FailedSince = t0.Add(-time.Second) },
			policy:     func(p *Policy) { p.Mode = failover.RestartFirst },
			wantAction: failover.ActionRestartPBX, wantRole: failover.RolePrimary, wantReason: "restart first"},
		{name: "failed leader past restart_grace hands over",
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed; o.FailedSince = t0.Add(-11 * time.Second) },
			policy:     func(p *Policy) { p.Mode = failover.RestartFirst },
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby},
		{name: "failed leader with nobody ready restarts",
			obs: func(o *Observation) {
				o.Local.Health = probe.HealthFailed
				o.Members[0].Eligible, o.Members[1].Health = false, probe.HealthDegraded
			},
			wantAction: failover.ActionRestartPBX, wantRole: failover.RolePrimary, wantReason: "no healthy eligible member"},
		{name: "failed leader with nobody ready, unsupervised, keeps",
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed; o.Members = nil },
			policy:     func(p *Policy) { p.NoRestart = true },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "keeping the service"},
		{name: "leader with a link down hands over, no restart",
			obs:        func(o *Observation) { o.Local.LinkDown = "eth1" },
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby, wantReason: "eth1 lost carrier"},
		{name: "fault leader hands over",
			obs:        func(o *Observation) { o.Local.PBXFault = true },
			wantAction: failover.ActionRelease, wantRole: failover.RoleFault},
		{name: "switchover to n3 releases",
			obs:        func(o *Observation) { o.Switchover = Request{ID: "x", To: "n3"} },
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby, wantReason: "switchover to n3"},
		{name: "switchover to a degraded member waits",
			obs: func(o *Observation) {
				o.Switchover = Request{ID: "x", To: "n3"}
				o.Members[1].Health = probe.HealthDegraded
			},
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "not a healthy eligible member"},
		{name: "switchover to an unknown node waits",
			obs:        func(o *Observation) { o.Switchover = Request{ID: "x", To: "n9"} },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "not a live member"},
		{name: "switchover waits for a streaming standby",
			obs: func(o *Observation) {
				o.Switchover = Request{ID: "x", To: "n2"}
				o.Local.DB, o.Local.NoStreamingStandby = failover.DBPrimary, true
			},
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "no standby is streaming"},
		{name: "forced switchover does not wait for streaming",
			obs: func(o *Observation) {
				o.Switchover = Request{ID: "x", To: "n2", Force: true}
				o.Local.DB, o.Local.NoStreamingStandby = failover.DBPrimary, true
			},
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby},
		{name: "switchover without a target away from this node releases",
			obs:        func(o *Observation) { o.Switchover = Request{ID: "x", Away: "n1"} },
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby, wantReason: "switchover to n2"},
		{name: "switchover without a target away from another node is done: no release",
			obs:        func(o *Observation) { o.Switchover = Request{ID: "x", Away: "n2"} },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary, wantReason: "leader at epoch 4"},
		{name: "switchover to this node is no release",
			obs:        func(o *Observation) { o.Switchover = Request{ID: "x", To: "n1"} },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary},
		{name: "leader puts a lost VIP back",
			obs:        func(o *Observation) { o.Local.VIP = failover.VIPAbsent },
			wantAction: failover.ActionRestoreVIP, wantRole: failover.RolePrimary},
		{name: "failback to a higher priority after the delay",
			obs: func(o *Observation) {
				o.Members[1].Priority, o.Members[1].EligibleSince = 200, t0.Add(-6*time.Second)
			},
			policy:     func(p *Policy) { p.Failback = failover.FailbackAuto },
			wantAction: failover.ActionFailback, wantRole: failover.RolePrimary, wantReason: "failback: n3"},
		{name: "no failback before the delay",
			obs: func(o *Observation) {
				o.Members[1].Priority, o.Members[1].EligibleSince = 200, t0.Add(-4*time.Second)
			},
			policy:     func(p *Policy) { p.Failback = failover.FailbackAuto },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary},
		{name: "no failback to an equal priority",
			obs:        func(o *Observation) { o.Members[0].EligibleSince = t0.Add(-time.Hour) },
			policy:     func(p *Policy) { p.Failback = failover.FailbackAuto },
			wantAction: failover.ActionNone, wantRole: failover.RolePrimary},

		{name: "follower of a live leader", follower: true,
			obs:        func(o *Observation) { o.Leader, o.NoLeaderSince = "n1", time.Time{} },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "following leader n1"},
		{name: "init follower turns standby", follower: true,
			obs:        func(o *Observation) { o.Role, o.Leader = failover.RoleInit, "n1" },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby},
		{name: "best candidate takes the key", follower: true,
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary, wantReason: "taking the leader key at epoch 5"},
		{name: "a higher priority waits for nobody", follower: true,
			obs:        func(o *Observation) { o.Members[0].Priority = 100; o.Priority = 150 },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "lower priority waits for the better", follower: true,
			obs:        func(o *Observation) { o.Priority = 10 },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 is better placed"},
		{name: "same priority: least lag first", follower: true,
			obs: func(o *Observation) {
				o.Members[0].Priority, o.Members[0].WAL = 100, 500
				o.Local.DB, o.Local.WAL, o.LeaderWAL = failover.DBStandby, 400, 500
			},
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 is better placed"},
		{name: "same priority, same position: lowest name", follower: true,
			obs:        func(o *Observation) { o.Members[0].Priority, o.Node = 100, "n4" },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 is better placed"},
		{name: "the better did not take it within the TTL", follower: true,
			obs:        func(o *Observation) { o.Priority, o.NoLeaderSince = 10, t0.Add(-1100*time.Millisecond) },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "an ineligible better member is not waited for", follower: true,
			obs:        func(o *Observation) { o.Priority, o.Members[0].Eligible = 10, false },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "switchover target waits for nobody", follower: true,
			obs:        func(o *Observation) { o.Priority, o.Switchover = 10, Request{ID: "x", To: "n2"} },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary, wantReason: "switchover to this node"},
		{name: "others wait for the switchover target", follower: true,
			obs:        func(o *Observation) { o.Priority, o.Switchover = 1000, Request{ID: "x", To: "n3"} },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 is to lead"},
		{name: "switchover without a target: the old leader does not take the key back", follower: true,
			obs:        func(o *Observation) { o.Priority, o.Switchover = 1000, Request{ID: "x", Away: "n2"} },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "switchover away from this node"},
		{name: "switchover without a target: the old leader may after the TTL", follower: true,
			obs: func(o *Observation) {
				o.Priority, o.Switchover, o.NoLeaderSince = 1000, Request{ID: "x", Away: "n2"}, t0.Add(-1100*time.Millisecond)
			},
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "switchover without a target: the old leader is not waited for", follower: true,
			obs: func(o *Observation) {
				o.Switchover = Request{ID: "x", Away: "n1"}
				o.Members = append(o.Members, Member{Node: "n1", Role: failover.RoleStandby, Health: probe.Healthy, Eligible: true, Priority: 200})
			},
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "without a switchover a better old leader is waited for", follower: true,
			obs: func(o *Observation) {
				o.Members = append(o.Members, Member{Node: "n1", Role: failover.RoleStandby, Health: probe.Healthy, Eligible: true, Priority: 200})
			},
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n1 is better placed"},
		{name: "beyond max_lag_bytes: not eligible", follower: true,
			obs: func(o *Observation) {
				o.Local.DB, o.Local.WAL, o.LeaderWAL = failover.DBStandby, 100, 2000
			},
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "1900 bytes behind", wantElig: new(bool)},
		{name: "beyond max_lag_transactions (MariaDB): not eligible", follower: true,
			obs: func(o *Observation) {
				o.Local.DB, o.Local.WAL, o.LeaderWAL = failover.DBStandby, 100, 2000
			},
			policy:     func(p *Policy) { p.LagTransactions = true },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "1900 transactions behind the last announced position (max_lag_transactions", wantElig: new(bool)},
		{name: "beyond max_lag_bytes with allow_lag", follower: true,
			obs: func(o *Observation) {
				o.Local.DB, o.Local.WAL, o.LeaderWAL = failover.DBStandby, 100, 2000
			},
			policy:     func(p *Policy) { p.AllowLag = true },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "beyond max_lag_bytes, forced switchover here", follower: true,
			obs: func(o *Observation) {
				o.Local.DB, o.Local.WAL, o.LeaderWAL = failover.DBStandby, 100, 2000
				o.Switchover = Request{ID: "x", To: "n2", Force: true}
			},
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "no position ever announced: a standby database waits", follower: true,
			obs:        func(o *Observation) { o.Local.DB, o.Local.WAL = failover.DBStandby, 100 },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "no leader ever announced"},
		{name: "no position ever announced: a primary database leads", follower: true,
			obs:        func(o *Observation) { o.Local.DB, o.Local.WAL = failover.DBPrimary, 100 },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary},
		{name: "lease about to lapse: not eligible", follower: true,
			obs:        func(o *Observation) { o.SafeUntil = t0.Add(100 * time.Millisecond) },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "no live etcd lease"},
		{name: "no tie-breaker: not eligible", follower: true,
			obs:        func(o *Observation) { o.Local.TieBreakerOK = false },
			policy:     func(p *Policy) { p.TieBreakers = true },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "no tie-breaker"},
		{name: "priority 0 never leads", follower: true,
			obs:        func(o *Observation) { o.Priority = 0; o.Members = nil },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "priority 0"},
		{name: "failed follower restarts its PBX", follower: true,
			obs:        func(o *Observation) { o.Local.Health = probe.HealthFailed },
			wantAction: failover.ActionRestartPBX, wantRole: failover.RoleStandby},
		{name: "fault follower", follower: true,
			obs:        func(o *Observation) { o.Local.PBXFault = true },
			wantAction: failover.ActionNone, wantRole: failover.RoleFault},
		{name: "follower drops a VIP", follower: true,
			obs:        func(o *Observation) { o.Local.VIP = failover.VIPHeld },
			wantAction: failover.ActionDropVIP, wantRole: failover.RoleStandby},
		{name: "follower in maintenance", follower: true,
			obs:        func(o *Observation) { o.Local.Maintenance = true },
			wantAction: failover.ActionNone, wantRole: failover.RoleMaintenance, wantReason: "maintenance"},
		{name: "member in maintenance: no election", follower: true,
			obs:        func(o *Observation) { o.Members[0].Maintenance = true },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 in maintenance"},
		{name: "key still mine after a step-down: lead again", follower: true,
			obs:        func(o *Observation) { o.Leader, o.LeaderMine = "n2", true },
			wantAction: failover.ActionTakeOver, wantRole: failover.RolePrimary, wantReason: "still this node's"},
		{name: "key still mine but not eligible: give it up", follower: true,
			obs: func(o *Observation) {
				o.Leader, o.LeaderMine = "n2", true
				o.Local.Health = probe.HealthUnknown
			},
			wantAction: failover.ActionRelease, wantRole: failover.RoleStandby, wantReason: "giving it up"},
		{name: "just started: no claim yet", follower: true,
			obs:        func(o *Observation) { o.StartedAt = t0.Add(-500 * time.Millisecond) },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "starting: waiting 500ms"},
		{name: "vacancy counted from the end of the start wait", follower: true,
			obs: func(o *Observation) {
				o.Priority, o.StartedAt, o.NoLeaderSince = 10, t0.Add(-1500*time.Millisecond), t0.Add(-1500*time.Millisecond)
			},
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "n3 is better placed"},
		{name: "key still mine, lease not renewed: wait", follower: true,
			obs:        func(o *Observation) { o.Leader, o.LeaderMine, o.SafeUntil = "n2", true, t0 },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "does not renew its lease"},
		{name: "takeover held while a move runs", follower: true,
			obs:        func(o *Observation) { o.Busy = failover.ActionDropVIP },
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "drop_vip under way"},
		{name: "takeover held after a failure", follower: true,
			obs: func(o *Observation) {
				o.RetryAt = map[failover.Action]time.Time{failover.ActionTakeOver: t0.Add(time.Second)}
			},
			wantAction: failover.ActionNone, wantRole: failover.RoleStandby, wantReason: "failed a moment ago"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := leaderObs()
			if tc.follower {
				o = followerObs()
			}
			p := testPolicy()
			if tc.obs != nil {
				tc.obs(&o)
			}
			if tc.policy != nil {
				tc.policy(&p)
			}
			d := Decide(o, p)
			if d.Action != tc.wantAction || d.Role != tc.wantRole {
				t.Errorf("got %s to %s, want %s to %s (reason %q)", d.Action, d.Role, tc.wantAction, tc.wantRole, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("got reason %q, want it to contain %q", d.Reason, tc.wantReason)
			}
			if tc.wantElig != nil && d.Eligible != *tc.wantElig {
				t.Errorf("got eligible %v, want %v", d.Eligible, *tc.wantElig)
			}
		})
	}
}

func TestStepDownAt(t *testing.T) {
	p := Policy{LeaseTTL: 2 * time.Second, StepDown: time.Second, Tick: 50 * time.Millisecond}
	safe := t0.Add(2 * time.Second)
	// 1 % of 2s + 2 ticks + 10ms = 130ms margin.
	if got, want := p.StepDownAt(safe), t0.Add(870*time.Millisecond); !got.Equal(want) {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := p.RenewEvery(), 500*time.Millisecond; got != want {
		t.Errorf("got renew every %s, want %s", got, want)
	}
}

func TestFailbackTarget(t *testing.T) {
	o := leaderObs()
	o.Members[1].Priority, o.Members[1].EligibleSince = 200, t0.Add(-time.Hour)
	p := testPolicy()
	p.Failback = failover.FailbackAuto
	if d := Decide(o, p); d.Target != "n3" {
		t.Errorf("got target %q, want n3", d.Target)
	}
}
