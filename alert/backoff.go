package alert

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before retry number n (1 for the first retry):
// initial doubled n-1 times, capped at most, then jittered into
// [d/2, d] so that many nodes retrying one receiver spread out.
func backoff(n int, initial, most time.Duration, rnd func(int64) int64) time.Duration {
	d := initial
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	if d <= 1 {
		return d
	}
	half := int64(d / 2)
	return time.Duration(half + rnd(int64(d)-half+1))
}

// randInt64N is the production jitter source.
func randInt64N(n int64) int64 { return rand.Int64N(n) }
