// Package timerslack sets the timer slack of every thread of the process:
// how late the kernel may fire a thread's timers (sleeps, poll and futex
// timeouts) so as to fire several with one wake-up. The Go runtime
// sleeps in short steps on its sysmon thread (20 µs, which the default
// 50 µs slack makes 60–120 µs on a virtual machine) for as long as any
// goroutine runs, and wakes a thread for every timer; at a node's rest,
// bursts of a few hundred microseconds several times a second, those
// wake-ups are most of its CPU. A slack of a millisecond lets the kernel
// fold them: a node's timers (200 ms heartbeats, a one-second dead_after)
// do not notice a millisecond.
package timerslack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Default is the slack `pbxha run` gives its threads.
const Default = time.Millisecond

// passes bounds Set's sweeps over the process's threads: a thread the
// runtime starts during a sweep copies its slack from the thread that
// started it, which may not have had the new one yet.
const passes = 3

// Set gives the calling thread and every other thread of the process a
// timer slack of d; the threads started later inherit it from the thread
// that starts them. The calling thread's is set with prctl; the others'
// through /proc/TID/timerslack_ns (a thread's ID names its task there too), which the kernel allows a
// process with CAP_SYS_NICE (root) only: without it, Set returns an error
// wrapping os.ErrPermission after setting what it could. It returns the
// threads that have the slack.
func Set(d time.Duration) (threads int, err error) {
	if d <= 0 {
		return 0, fmt.Errorf("timerslack: set: slack %s must be positive", d)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0); err != nil {
		return 0, fmt.Errorf("timerslack: set: prctl: %w", err)
	}
	want := strconv.FormatInt(d.Nanoseconds(), 10)
	for range passes {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return 0, fmt.Errorf("timerslack: set: %w", err)
		}
		threads, changed := 0, false
		var errs []error
		for _, t := range tids {
			path := filepath.Join("/proc", t.Name(), "timerslack_ns")
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited
			}
			if err == nil && strings.TrimSpace(string(b)) == want {
				threads++
				continue
			}
			changed = true
			if err == nil {
				err = os.WriteFile(path, []byte(want), 0)
			}
			switch {
			case err == nil:
				threads++
			case !errors.Is(err, os.ErrNotExist):
				errs = append(errs, fmt.Errorf("timerslack: set: thread %s: %w", t.Name(), err))
			}
		}
		if len(errs) > 0 {
			return threads, errors.Join(errs...)
		}
		if !changed {
			return threads, nil
		}
	}
	return Threads(d)
}

// Threads counts the threads of the process whose slack is d, and returns
// an error naming the first that has another.
func Threads(d time.Duration) (int, error) {
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("timerslack: threads: %w", err)
	}
	n := 0
	for _, t := range tids {
		b, err := os.ReadFile(filepath.Join("/proc", t.Name(), "timerslack_ns"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("timerslack: threads: %w", err)
		}
		got, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return n, fmt.Errorf("timerslack: threads: thread %s: %q: %w", t.Name(), b, err)
		}
		if time.Duration(got) != d {
			return n, fmt.Errorf("timerslack: threads: thread %s has %s, not %s", t.Name(), time.Duration(got), d)
		}
		n++
	}
	return n, nil
}
