// Package clock is the one source of time for code that waits: the node's
// decision loop, its heartbeat sender and the act stage's timelines read
// the time and arm their timers through one Clock, so that they never mix
// two. Production code uses Real; tests run Real inside a testing/synctest
// bubble, whose fake time moves only while every goroutine waits.
package clock

import "time"

// Clock reads the time and makes timers. Implementations are safe for
// concurrent use; durations are wall-clock spans.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// Sleep blocks for d.
	Sleep(d time.Duration)
}

// Timer fires once on C after its duration, like time.Timer.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Reset re-arms the timer to fire after d (see time.Timer.Reset).
	Reset(d time.Duration) bool
	// Stop keeps the timer from firing (see time.Timer.Stop).
	Stop() bool
}

// Real is the system clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) Sleep(d time.Duration)          { time.Sleep(d) }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
func (r realTimer) Stop() bool                 { return r.t.Stop() }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Grid returns the first instant after t that is a whole multiple of
// every, counted on the wall clock from the zero time (time.Truncate):
// the process's periodic work — heartbeats, probe checks, the decision
// loop's rest — falls on the grid of its interval, so that schedules of
// the same or of dividing intervals share their wake-ups (one timer run,
// one burst of work) instead of each waking the process on its own. Two
// nodes whose clocks agree share the grid too: a heartbeat arrives when
// the receiver is awake for its own. every must be positive.
func Grid(t time.Time, every time.Duration) time.Time {
	return t.Truncate(every).Add(every)
}

// GridWithin returns the last point of every's grid (Grid) that is no
// later than t+d and after t, or t+d itself when none is: a wake-up that
// may come early but not late, moved onto the grid where the process
// wakes anyway.
func GridWithin(t time.Time, d, every time.Duration) time.Time {
	if g := Grid(t.Add(d-every), every); g.After(t) {
		return g
	}
	return t.Add(d)
}
