package failover

import (
	"errors"
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	bootA, bootB, bootC := BootID{0xa}, BootID{0xb}, BootID{0xc}
	hb := func(boot BootID, seq uint64, sent time.Time) Heartbeat {
		return Heartbeat{Boot: boot, Seq: seq, Sent: sent}
	}
	type step struct {
		path      int
		hb        Heartbeat
		now       time.Time
		wantFresh bool
		wantErr   error
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first heartbeat accepted", []step{
			{0, hb(bootA, 1, t0), t0, true, nil},
		}},
		{"sequence must grow", []step{
			{0, hb(bootA, 5, t0), t0, true, nil},
			{0, hb(bootA, 6, t0), t0, true, nil},
			{0, hb(bootA, 6, t0), t0, false, ErrReplay},
			{0, hb(bootA, 3, t0), t0, false, ErrReplay},
		}},
		{"seq 0 never accepted", []step{
			{0, hb(bootA, 0, t0), t0, false, ErrReplay},
		}},
		{"same heartbeat on a second path proves it alive but is not fresh", []step{
			{0, hb(bootA, 1, t0), t0, true, nil},
			{1, hb(bootA, 1, t0), t0, false, nil},
			{1, hb(bootA, 1, t0), t0, false, ErrReplay},
		}},
		{"a path that lags behind still accepts newer packets", []step{
			{0, hb(bootA, 10, t0), t0, true, nil},
			{1, hb(bootA, 8, t0), t0, false, nil},
			{1, hb(bootA, 11, t0), t0, true, nil},
		}},
		{"first boot outside skew window is stale", []step{
			{0, hb(bootA, 1, t0.Add(-45*time.Second)), t0, false, ErrStale},
			{0, hb(bootA, 1, t0.Add(45*time.Second)), t0, false, ErrStale},
			{0, hb(bootA, 2, t0.Add(-29*time.Second)), t0, true, nil},
		}},
		{"peer restart: new boot with later sent time accepted, sequence restarts", []step{
			{0, hb(bootA, 900, t0), t0, true, nil},
			{0, hb(bootB, 1, t0.Add(2*time.Second)), t0.Add(2 * time.Second), true, nil},
			{0, hb(bootB, 2, t0.Add(2*time.Second)), t0.Add(2 * time.Second), true, nil},
		}},
		{"recording of the previous boot replayed after a restart is stale", []step{
			{0, hb(bootA, 900, t0), t0, true, nil},
			{0, hb(bootB, 1, t0.Add(2*time.Second)), t0.Add(2 * time.Second), true, nil},
			{0, hb(bootA, 901, t0.Add(time.Second)), t0.Add(3 * time.Second), false, ErrStale},
			{1, hb(bootA, 901, t0.Add(time.Second)), t0.Add(3 * time.Second), false, ErrStale},
			{0, hb(bootB, 2, t0.Add(3*time.Second)), t0.Add(3 * time.Second), true, nil},
		}},
		{"old recording of an unknown boot is stale", []step{
			{0, hb(bootA, 5, t0), t0, true, nil},
			{0, hb(bootC, 7, t0.Add(-time.Hour)), t0.Add(time.Second), false, ErrStale},
		}},
		{"peer clock stepped back across a restart: accepted once the old boot is silent a window", []step{
			{0, hb(bootA, 5, t0), t0, true, nil},
			{0, hb(bootB, 1, t0.Add(-10*time.Second)), t0.Add(5 * time.Second), false, ErrStale},
			{0, hb(bootB, 2, t0.Add(21*time.Second)), t0.Add(31 * time.Second), true, nil},
		}},
		{"unknown path", []step{
			{2, hb(bootA, 1, t0), t0, false, ErrPath},
			{-1, hb(bootA, 1, t0), t0, false, ErrPath},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewReplayGuard(2, 30*time.Second)
			for i, s := range tc.steps {
				fresh, err := g.Check(s.path, s.hb, s.now)
				if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
					t.Fatalf("step %d: got err %v, want %v", i, err, s.wantErr)
				}
				if fresh != s.wantFresh {
					t.Fatalf("step %d: got fresh %v, want %v", i, fresh, s.wantFresh)
				}
			}
		})
	}
}
