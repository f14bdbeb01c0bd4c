package main

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// TestPGRecent: the pg probe's last reading counts for the failover
// observation only while it comes from a check begun within two intervals
// and a timeout; without a pg check nothing is recent.
func TestPGRecent(t *testing.T) {
	pg, err := probe.NewPG(probe.PGConfig{DSN: "postgres://u@127.0.0.1:1/db", Node: "n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	checks := []probe.Check{
		{Name: "pbx", Kind: "tcp", Interval: time.Hour, Timeout: time.Hour},
		{Name: "db", Kind: "pg", Interval: 500 * time.Millisecond, Timeout: 400 * time.Millisecond, Probe: pg},
	}
	for _, tc := range []struct {
		name   string
		checks []probe.Check
		age    time.Duration
		want   bool
	}{
		{"just read", checks, 0, true},
		{"one check late", checks, 900 * time.Millisecond, true},
		{"at the bound", checks, 1400 * time.Millisecond, true},
		{"past two intervals and a timeout", checks, 1401 * time.Millisecond, false},
		{"no pg check", checks[:1], 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := probe.PGState{At: now.Add(-tc.age), Role: probe.PGRolePrimary}
			if got := pgRecent(tc.checks, st, now); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDBOnlyFailed(t *testing.T) {
	st := func(kind probe.Kind, critical bool, state probe.Status) probe.CheckState {
		return probe.CheckState{Kind: kind, Critical: critical, State: state}
	}
	for _, tc := range []struct {
		name   string
		states []probe.CheckState
		want   bool
	}{
		{"all ok", []probe.CheckState{st("sip", true, probe.OK), st("pg", true, probe.OK)}, false},
		{"only pg failed", []probe.CheckState{st("sip", true, probe.OK), st("pg", true, probe.Failed)}, true},
		{"sip and pg failed", []probe.CheckState{st("sip", true, probe.Failed), st("pg", true, probe.Failed)}, false},
		{"only sip failed", []probe.CheckState{st("sip", true, probe.Failed), st("pg", true, probe.OK)}, false},
		{"non-critical tcp failed beside pg", []probe.CheckState{st("tcp", false, probe.Failed), st("pg", true, probe.Failed)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dbOnlyFailed(tc.states); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
