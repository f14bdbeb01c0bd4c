package clock

import (
	"testing"
	"time"
)

func TestGrid(t *testing.T) {
	base := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		t     time.Time
		every time.Duration
		want  time.Time
	}{
		{"on the grid: the next point", base, 200 * time.Millisecond, base.Add(200 * time.Millisecond)},
		{"just after a point", base.Add(time.Nanosecond), 200 * time.Millisecond, base.Add(200 * time.Millisecond)},
		{"just before a point", base.Add(199 * time.Millisecond), 200 * time.Millisecond, base.Add(200 * time.Millisecond)},
		{"a dividing interval shares the points", base.Add(150 * time.Millisecond), 100 * time.Millisecond, base.Add(200 * time.Millisecond)},
		{"a second", base.Add(1500 * time.Millisecond), time.Second, base.Add(2 * time.Second)},
		{"the monotonic reading does not count", base.Add(50 * time.Millisecond).Round(0), 200 * time.Millisecond, base.Add(200 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Grid(tt.t, tt.every); !got.Equal(tt.want) {
				t.Errorf("Grid(%s, %s): got %s, want %s", tt.t.Format(time.StampMicro), tt.every, got.Format(time.StampMicro), tt.want.Format(time.StampMicro))
			}
		})
	}
	// From a reading of the real clock: strictly later, at most one
	// interval on, and a whole number of intervals from the zero time.
	for _, every := range []time.Duration{10 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 3 * time.Second} {
		now := time.Now()
		g := Grid(now, every)
		if !g.After(now) || g.Sub(now) > every || !g.Truncate(every).Equal(g) {
			t.Errorf("Grid(now, %s): got %s from %s, want the next multiple of %s", every, g, now, every)
		}
	}
}
