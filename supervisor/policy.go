package supervisor

import (
	"fmt"
	"math"
	"time"
)

// policy is the restart policy: back-off between restarts and the limit of
// restarts within a sliding window.
type policy struct {
	initial, max time.Duration
	factor       float64
	maxRestarts  int
	window       time.Duration
}

func policyOf(c Config) policy {
	return policy{initial: c.BackoffInitial, max: c.BackoffMax, factor: c.BackoffFactor,
		maxRestarts: c.MaxRestarts, window: c.Window}
}

// plan is what to do about a PBX that is down.
type plan struct {
	At       time.Time // when to restart (now or later)
	Fault    bool      // the restart limit is reached; At is when the window lets one through
	InWindow int       // automatic restarts within the window before now
	Reason   string    // one line: why At
}

// inWindow returns the restarts within the window that ends at now.
func (p policy) inWindow(restarts []time.Time, now time.Time) []time.Time {
	var in []time.Time
	for _, r := range restarts {
		if now.Sub(r) < p.window && !r.After(now) {
			in = append(in, r)
		}
	}
	return in
}

// backoff returns the delay before a restart when n restarts already
// happened within the window: initial * factor^n, at most max.
func (p policy) backoff(n int) time.Duration {
	d := float64(p.initial) * math.Pow(p.factor, float64(n))
	if d >= float64(p.max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.max
	}
	return time.Duration(d)
}

// next decides when a PBX that went down at downAt is restarted, given the
// times of earlier automatic restarts. It is pure: the caller passes now.
func (p policy) next(restarts []time.Time, downAt, now time.Time) plan {
	in := p.inWindow(restarts, now)
	if len(in) >= p.maxRestarts {
		// The oldest restarts leave the window one by one; the first time
		// fewer than maxRestarts remain is when the one at index
		// len-maxRestarts has aged past the window.
		oldest := in[len(in)-p.maxRestarts]
		return plan{
			At:       oldest.Add(p.window),
			Fault:    true,
			InWindow: len(in),
			Reason: fmt.Sprintf("%d restarts within %v (max_restarts %d); next try at %s",
				len(in), p.window, p.maxRestarts, oldest.Add(p.window).Format(time.RFC3339)),
		}
	}
	d := p.backoff(len(in))
	at := downAt.Add(d)
	if len(in) > 0 {
		// Back-off also counts from the last start: a PBX that dies right
		// after a late start is not restarted in a burst.
		if last := in[len(in)-1].Add(d); last.After(at) {
			at = last
		}
	}
	if at.Before(now) {
		at = now
	}
	return plan{At: at, InWindow: len(in),
		Reason: fmt.Sprintf("restart %d of %d within %v after back-off %v", len(in)+1, p.maxRestarts, p.window, d.Round(time.Millisecond))}
}
