package probe

import (
	"testing"
	"time"
)

// TestLastPG: the pg probe's last reading is fresh only while it comes from
// a check begun within two intervals and a timeout; without a pg check, or
// before its first reading, there is none.
func TestLastPG(t *testing.T) {
	pg, err := NewPG(PGConfig{DSN: "postgres://u@127.0.0.1:1/db", Node: "n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	checks := []Check{
		{Name: "pbx", Kind: KindTCP, Interval: time.Hour, Timeout: time.Hour},
		{Name: "db", Kind: KindPG, Interval: 500 * time.Millisecond, Timeout: 400 * time.Millisecond, Probe: pg},
	}
	if _, _, ok := LastPG(checks, now); ok {
		t.Errorf("before the first reading: got ok, want none")
	}
	for _, tc := range []struct {
		name      string
		checks    []Check
		age       time.Duration
		wantFresh bool
		wantOK    bool
	}{
		{"just read", checks, 0, true, true},
		{"one check late", checks, 900 * time.Millisecond, true, true},
		{"at the bound", checks, 1400 * time.Millisecond, true, true},
		{"past two intervals and a timeout", checks, 1401 * time.Millisecond, false, true},
		{"no pg check", checks[:1], 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg.mu.Lock()
			pg.last, pg.haveLast = PGState{At: now.Add(-tc.age), Role: PGRolePrimary}, true
			pg.mu.Unlock()
			st, fresh, ok := LastPG(tc.checks, now)
			if fresh != tc.wantFresh || ok != tc.wantOK {
				t.Errorf("got fresh %v ok %v, want %v %v", fresh, ok, tc.wantFresh, tc.wantOK)
			}
			if ok && st.Role != PGRolePrimary {
				t.Errorf("got role %q, want the reading's primary", st.Role)
			}
		})
	}
}
