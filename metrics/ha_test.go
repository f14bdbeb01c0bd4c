package metrics

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// haFixture is a standby of a pair with a database, a supervised PBX, a
// pending restart and the VIP not held.
func haFixture() HA {
	heard := time.Now().Add(-300 * time.Millisecond)
	lag := uint64(4096)
	return HA{
		Role:        func() string { return "standby" },
		Maintenance: func() bool { return false },
		Reload:      func() (bool, time.Time, []string) { return true, time.Unix(1700000000, 0), []string{"node.cluster"} },
		VIPHeld:     func() (bool, bool) { return false, true },
		PBX: func() (control.PBX, bool) {
			return control.PBX{State: "running", RestartsInWindow: 1, MaxRestarts: 5}, true
		},
		Pair: func() (control.Pair, bool) {
			return control.Pair{Epoch: 7, UnprotectedCause: "no_tie_breaker", ClockOffsetMS: -12.5,
				Peer: control.PeerState{Node: "node-a", Alive: true, Role: "primary", Epoch: 7, LastHeard: &heard,
					Paths: []control.PathState{{Local: "10.0.0.2:5405", Peer: "10.0.0.1:5405", Alive: true, LastHeard: &heard,
						Accepted: 1200, Drops: map[string]uint64{"bad_mac": 3, "stale": 2}}}},
				// Both lags set, so that every family shows (a real pair has one).
				Nodes: []control.ClusterNode{{Node: "node-b", Self: true, DB: "standby", LagBytes: &lag}, {Node: "node-a", DB: "primary", LagBytes: &lag}},
			}, true
		},
	}
}

// fullMetrics has every family registered, as a pair node with alerts runs.
func fullMetrics() *Metrics {
	m := New(func() probe.Health { return probe.Healthy })
	m.SetInfo("node-b", "pbx", "1.0.0", func() string { return "standby" })
	one := func() float64 { return 1 }
	m.AlertFuncs(AlertCounters{Outbox: one, MemoryOnly: one, Delivered: one, Dropped: one, Failures: one})
	m.SetHA(haFixture())
	m.Observe(probe.Check{Name: "sip", Kind: probe.KindSIP}, probe.Result{Status: probe.OK, Latency: time.Millisecond, Values: map[string]float64{"calls": 1}},
		probe.CheckState{State: probe.OK})
	return m
}

func TestHAMetrics(t *testing.T) {
	m := fullMetrics()
	m.Publish(event.Event{Kind: event.Failover, Time: time.Unix(1700000100, 0),
		Details: map[string]any{"reason": "taking over at epoch 7: node-a silent since 2026-03-01T12:00:00Z", "ready_ms": int64(640)}})
	m.Publish(event.Event{Kind: event.Switchover, Details: map[string]any{"reason": "taking over at epoch 8: switchover 1 to this node", "ready_ms": float64(20)}})
	m.Publish(event.Event{Kind: event.PBXRestarted, Details: map[string]any{"reason": "operator reset"}})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	_, body := scrape(t, "http://"+ln.Addr().String()+"/metrics")
	for _, want := range []string{
		`pbxha_role{role="standby"} 1`,
		`pbxha_role{role="primary"} 0`,
		`pbxha_maintenance 0`,
		`pbxha_epoch 7`,
		`pbxha_peer_alive 1`,
		`pbxha_peer_role{role="primary"} 1`,
		`pbxha_peer_path_up{local="10.0.0.2:5405",path="0",peer="10.0.0.1:5405"} 1`,
		`pbxha_heartbeats_accepted_total{local="10.0.0.2:5405",path="0",peer="10.0.0.1:5405"} 1200`,
		`pbxha_heartbeats_dropped_total{local="10.0.0.2:5405",path="0",peer="10.0.0.1:5405",reason="bad_mac"} 3`,
		`pbxha_heartbeats_dropped_total{local="10.0.0.2:5405",path="0",peer="10.0.0.1:5405",reason="stale"} 2`,
		`pbxha_vip_held 0`,
		`pbxha_database_role{role="standby"} 1`,
		`pbxha_database_lag_bytes 4096`,
		`pbxha_pbx_state{state="running"} 1`,
		`pbxha_pbx_restarts_in_window 1`,
		`pbxha_config_last_reload_successful 0`,
		`pbxha_config_pending_restart{key="node.cluster"} 1`,
		`pbxha_failovers_total{cause="peer_silent",kind="failover"} 1`,
		`pbxha_failovers_total{cause="switchover",kind="switchover"} 1`,
		`pbxha_failovers_total{cause="peer_failed",kind="failover"} 0`,
		`pbxha_last_failover_duration_seconds 0.02`,
		`pbxha_takeover_duration_seconds_count 2`,
		`pbxha_takeover_duration_seconds_bucket{le="0.75"} 2`,
		`pbxha_pbx_restarts_total{reason="operator"} 1`,
		`pbxha_alert_outbox_events 1`,
		`pbxha_pair_unprotected{cause="no_tie_breaker"} 1`,
		`pbxha_pair_unprotected{cause="peer_unheard"} 0`,
		`pbxha_peer_clock_offset_seconds -0.0125`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if !strings.Contains(body, "pbxha_peer_last_heard_seconds 0.") {
		t.Errorf("scrape lacks pbxha_peer_last_heard_seconds below a second")
	}
}

func TestCause(t *testing.T) {
	for _, tc := range []struct{ kind, reason, want string }{
		{event.Switchover, "taking over at epoch 3: switchover 1 to this node", CauseSwitchover},
		{event.Failover, "taking over at epoch 3: node-a silent since 2026-03-01T12:00:00.1Z", CausePeerSilent},
		{event.Failover, "taking over at epoch 3: node-a released and is not eligible (standby, failed)", CausePeerFailed},
		{event.Failover, "taking over at epoch 1: node-a not heard within init_dead 3s", CausePeerUnheard},
		{event.Failover, "taking over at epoch 1: no primary; this node outranks node-b", CauseElection},
		{event.Failover, "something new", CauseOther},
	} {
		if got := Cause(tc.kind, tc.reason); got != tc.want {
			t.Errorf("Cause(%s, %q): got %s, want %s", tc.kind, tc.reason, got, tc.want)
		}
	}
}

func fakeFailover() event.Event {
	return event.Event{Kind: event.Failover, Details: map[string]any{"reason": "taking over at epoch 2: node-a silent since x", "ready_ms": int64(500)}}
}

// TestUnprotectedCauses: the cause labels are the ones failover reports.
func TestUnprotectedCauses(t *testing.T) {
	if !slices.Equal(unprotectedCauses, failover.UnprotectedCauses) {
		t.Errorf("metrics' unprotected causes %v, want failover.UnprotectedCauses %v", unprotectedCauses, failover.UnprotectedCauses)
	}
}
