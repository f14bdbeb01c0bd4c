package coord

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// TestDecideInvariants runs every combination of a discretised observation
// through Decide and checks the rules that keep two leaders apart: never
// take the key while another holds it or while not eligible, nor back
// within the TTL after a switchover away from this node; a leader past
// its step-down point, or without the key, always steps down (unless a
// release is already under way); only the key's holder stays primary
// (a role stays while a move runs).
func TestDecideInvariants(t *testing.T) {
	p := testPolicy()
	roles := []failover.Role{failover.RoleInit, failover.RoleStandby, failover.RolePrimary, failover.RoleFault, failover.RoleMaintenance}
	leaders := []struct {
		name string
		mine bool
	}{{"", false}, {"self", true}, {"n9", false}}
	safes := []time.Duration{-1, 0, 219 * time.Millisecond, 221 * time.Millisecond, time.Second}
	healths := []probe.Health{probe.HealthUnknown, probe.Healthy, probe.HealthDegraded, probe.HealthFailed}
	busies := []failover.Action{failover.ActionNone, failover.ActionTakeOver, failover.ActionRelease}
	lags := []struct {
		db            failover.DBRole
		wal, leadWAL  uint64
		allowed, lags bool
	}{{failover.DBNone, 0, 0, true, false}, {failover.DBStandby, 100, 5000, false, true}, {failover.DBStandby, 100, 200, true, false}, {failover.DBPrimary, 100, 0, true, false}}
	switchovers := []Request{{}, {ID: "a", To: "self"}, {ID: "b", To: "n2"}, {ID: "c", To: "self", Force: true},
		{ID: "d", Away: "self"}, {ID: "e", Away: "n2"}}
	// How long the leader key has been vacant (when it is): within the
	// lease TTL, and past it.
	vacancies := []time.Duration{100 * time.Millisecond, 2 * time.Second}
	n := 0
	for _, role := range roles {
		for _, ld := range leaders {
			for _, safe := range safes {
				for _, h := range healths {
					for _, busy := range busies {
						for _, lg := range lags {
							for _, sw := range switchovers {
								for _, maint := range []bool{false, true} {
									for _, memberMaint := range []bool{false, true} {
										for _, prio := range []int{0, 100} {
											o := Observation{Now: t0, Node: "self", Role: role, Epoch: 3, Priority: prio, Synced: true, StartedAt: t0.Add(-time.Hour),
												Local:  failover.LocalState{Health: h, Maintenance: maint, DB: lg.db, WAL: lg.wal},
												Leader: ld.name, LeaderMine: ld.mine, LeaderWAL: lg.leadWAL, Switchover: sw, Busy: busy,
												Members: []Member{{Node: "n2", Health: probe.Healthy, Eligible: true, Priority: 100, Maintenance: memberMaint}},
											}
											if safe >= 0 {
												o.SafeUntil = t0.Add(safe)
											}
											for _, vacant := range vacancies {
												if ld.name == "" {
													o.NoLeaderSince = t0.Add(-vacant)
												}
												check(t, o, p, lg.allowed)
												n++
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d observations checked", n)
}

func check(t *testing.T, o Observation, p Policy, lagAllowed bool) {
	t.Helper()
	d := Decide(o, p)
	leaseOK := !o.SafeUntil.IsZero() && o.Now.Before(p.StepDownAt(o.SafeUntil))
	if d.Action == failover.ActionTakeOver {
		switch {
		case o.Leader != "" && !o.LeaderMine:
			t.Fatalf("took over while %s holds the key: %+v → %+v", o.Leader, o, d)
		case !leaseOK:
			t.Fatalf("took over without a live lease: %+v → %+v", o, d)
		case o.Local.Maintenance || o.Priority == 0:
			t.Fatalf("took over in maintenance or at priority 0: %+v → %+v", o, d)
		case o.Local.Health != probe.Healthy && o.Local.Health != probe.HealthDegraded:
			t.Fatalf("took over while %s: %+v → %+v", o.Local.Health, o, d)
		case !lagAllowed && !(o.Switchover.Force && o.Switchover.To == o.Node):
			t.Fatalf("took over beyond max_lag_bytes: %+v → %+v", o, d)
		case o.Busy != failover.ActionNone:
			t.Fatalf("took over while %s runs: %+v → %+v", o.Busy, o, d)
		case !o.LeaderMine && o.Switchover.Active() && o.Switchover.To == "" && o.Switchover.Away == o.Node && o.Now.Sub(o.NoLeaderSince) <= p.LeaseTTL:
			t.Fatalf("took the key back within the TTL from a switchover away from this node: %+v → %+v", o, d)
		}
	}
	if o.Role == failover.RolePrimary && (!leaseOK || !o.LeaderMine) {
		if d.Action != failover.ActionStepDown && o.Busy != failover.ActionRelease {
			t.Fatalf("a leader without a safe lease did not step down: %+v → %+v", o, d)
		}
	}
	if d.Role == failover.RolePrimary && d.Action != failover.ActionTakeOver && !(o.Role == failover.RolePrimary) {
		t.Fatalf("became primary without taking over: %+v → %+v", o, d)
	}
	if d.Role == failover.RolePrimary && o.Leader != "" && !o.LeaderMine && o.Busy == failover.ActionNone {
		t.Fatalf("primary while %s holds the key: %+v → %+v", o.Leader, o, d)
	}
}
