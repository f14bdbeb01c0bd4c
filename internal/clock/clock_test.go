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

func TestGridWithin(t *testing.T) {
	base := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name      string
		t         time.Time
		d, every  time.Duration
		wantAfter time.Duration // from base
	}{
		{"on the grid: d on", base, time.Second, ms(200), time.Second},
		{"off the grid: the point before t+d", base.Add(ms(50)), time.Second, ms(200), time.Second},
		{"t+d on a point", base.Add(ms(100)), ms(900), ms(200), time.Second},
		{"no point after t within d: t+d", base.Add(ms(50)), ms(100), ms(200), ms(150)},
		{"an interval longer than d: t+d", base.Add(ms(50)), time.Second, 3 * time.Second, ms(1050)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GridWithin(tt.t, tt.d, tt.every).Sub(base); got != tt.wantAfter {
				t.Errorf("GridWithin(+%s, %s, %s): got +%s, want +%s", tt.t.Sub(base), tt.d, tt.every, got, tt.wantAfter)
			}
		})
	}
}
