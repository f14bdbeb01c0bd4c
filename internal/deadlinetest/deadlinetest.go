// Package deadlinetest checks the contract of a NextDeadline function (the
// failover and coord packages each have one) against its decision function:
// with nothing changing but the time, the decision stays the same at every
// sampled instant before the deadline and just before it, and changes at it.
package deadlinetest

import (
	"fmt"
	"time"
)

// Samples are the offsets from now at which Check asks the decision again:
// dense around the default timings (every 10 ms to 500 ms, every 50 ms to
// 3 s), then sparse out to a day.
var Samples = func() []time.Duration {
	ds := []time.Duration{1, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond}
	for ms := 10; ms <= 3000; ms += 10 {
		if ms <= 500 || ms%50 == 0 {
			ds = append(ds, time.Duration(ms)*time.Millisecond)
		}
	}
	for _, d := range []time.Duration{4 * time.Second, 5 * time.Second, 6 * time.Second, 10 * time.Second, 11 * time.Second,
		20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		ds = append(ds, d)
	}
	return ds
}()

// Contract is one decision and its deadline to check: Decide(t) is the
// decision taken at t with nothing else changed, Same compares two, and
// Describe names one in an error.
type Contract[D any] struct {
	Now      time.Time
	Next     time.Time // the deadline under test; zero: none
	Decide   func(t time.Time) D
	Same     func(a, b D) bool
	Describe func(D) string
	Every    int // check every Every-th sample (0 or 1: all)
}

// Check returns an error naming the first instant that breaks the contract.
func Check[D any](c Contract[D]) error {
	d := c.Decide(c.Now)
	end := c.Next
	if end.IsZero() {
		end = c.Now.Add(48 * time.Hour)
	}
	if !end.After(c.Now) {
		return fmt.Errorf("NextDeadline %s is not after now %s", end, c.Now)
	}
	every := max(c.Every, 1)
	differs := func(t time.Time) error {
		if e := c.Decide(t); !c.Same(e, d) {
			return fmt.Errorf("decision changed at +%s, before NextDeadline +%s: %s → %s",
				t.Sub(c.Now), c.Next.Sub(c.Now), c.Describe(d), c.Describe(e))
		}
		return nil
	}
	for i, off := range Samples {
		t := c.Now.Add(off)
		if !t.Before(end) {
			break
		}
		if i%every != 0 {
			continue
		}
		if err := differs(t); err != nil {
			return err
		}
	}
	if err := differs(end.Add(-1)); err != nil {
		return err
	}
	if !c.Next.IsZero() && c.Same(c.Decide(c.Next), d) {
		return fmt.Errorf("NextDeadline +%s: the decision (%s) does not change there", c.Next.Sub(c.Now), c.Describe(d))
	}
	return nil
}
