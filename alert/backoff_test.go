package alert

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name    string
		n       int
		rnd     func(int64) int64
		initial time.Duration
		most    time.Duration
		want    time.Duration
	}{
		{name: "first retry, top of jitter", n: 1, rnd: highest, initial: time.Second, most: 5 * time.Minute, want: time.Second},
		{name: "first retry, bottom of jitter", n: 1, rnd: lowest, initial: time.Second, most: 5 * time.Minute, want: 500 * time.Millisecond},
		{name: "doubles", n: 4, rnd: highest, initial: time.Second, most: 5 * time.Minute, want: 8 * time.Second},
		{name: "capped", n: 12, rnd: highest, initial: time.Second, most: 5 * time.Minute, want: 5 * time.Minute},
		{name: "capped, bottom of jitter", n: 12, rnd: lowest, initial: time.Second, most: 5 * time.Minute, want: 150 * time.Second},
		{name: "huge attempt count does not overflow", n: 1 << 30, rnd: highest, initial: time.Second, most: time.Hour, want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff(tt.n, tt.initial, tt.most, tt.rnd); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	for n := 1; n < 40; n++ {
		d := backoff(n, time.Second, 5*time.Minute, randInt64N)
		if d < 500*time.Millisecond || d > 5*time.Minute {
			t.Fatalf("attempt %d: got %s, want within [500ms, 5m]", n, d)
		}
	}
}
