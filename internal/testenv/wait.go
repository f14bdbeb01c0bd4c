package testenv

import (
	"fmt"
	"testing"
	"time"
)

// Polling of Poll: the first check at once, then after pollFirst, the gap
// doubling up to pollMax, so a condition that holds soon is seen soon and a
// costly one (a new database connection) is not run hundreds of times a
// second.
const (
	pollFirst = 10 * time.Millisecond
	pollMax   = 100 * time.Millisecond
)

// WaitFor checks cond until it holds, failing t after within. what names
// the awaited state for the failure message ("probe pbx ok"). Use
// WaitForReason when the condition can say why it does not hold yet.
//
// It polls in real time: in a testing/synctest bubble, where the clock is
// fake and goroutines must be let run with synctest.Wait, it is the wrong
// tool.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitForReason(t, within, what, func() (bool, string) { return cond(), "" })
}

// WaitForReason checks cond (see Poll) until it reports true, failing t
// after within. cond returns whether the awaited state holds and, when it
// does not, why not ("count 3", "role standby"); the failure message names
// what, within, the number of checks and the last reason given.
func WaitForReason(t testing.TB, within time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	if err := Poll(within, cond); err != nil {
		t.Fatalf("waited %s for %s: %v", within, what, err)
	}
}

// Poll checks cond until it reports true and returns nil, or returns an
// error saying how many checks failed and the last reason cond gave once
// within has passed. It is the loop under WaitForReason, for callers that
// must do something (print logs) before failing, or that go on anyway.
//
// The wait is bounded in time (within, measured from the call) and in
// count (at most within/10ms + 2 checks); cond runs on the calling
// goroutine, at once and then at growing gaps of 10 to 100ms.
func Poll(within time.Duration, cond func() (ok bool, why string)) error {
	deadline := time.Now().Add(within)
	maxChecks := int(within/pollFirst) + 2
	gap := pollFirst
	var why string
	checks := 0
	for checks < maxChecks {
		ok, w := cond()
		checks++
		if ok {
			return nil
		}
		why = w
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		sleep(min(gap, left))
		gap = min(2*gap, pollMax)
	}
	if why == "" {
		return fmt.Errorf("not reached after %d checks", checks)
	}
	return fmt.Errorf("not reached after %d checks; last: %s", checks, why)
}

// sleep pauses the polling loop for d (the gap between two checks).
func sleep(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}
