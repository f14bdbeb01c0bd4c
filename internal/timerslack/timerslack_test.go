package timerslack

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbxha/pbxha/internal/testenv"
)

// threadSlack reads the calling thread's slack.
func threadSlack(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}

// onNewThreads runs f on n goroutines at once, each locked to its thread
// while all of them wait for the others, so that the runtime needs n
// threads; it returns what each f returned.
func onNewThreads(n int, f func() time.Duration) []time.Duration {
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	got := make([]time.Duration, n)
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-release // every goroutine holds its thread: n threads
			got[i] = f()
		}()
	}
	ready.Wait()
	close(release)
	done.Wait()
	return got
}

// TestSet: every thread of the process has the slack after Set, and so
// does every thread the runtime starts afterwards.
func TestSet(t *testing.T) {
	testenv.RequireRoot(t) // other threads' slack needs CAP_SYS_NICE
	// Threads before: some are the runtime's own (sysmon) that no
	// goroutine ever runs on.
	onNewThreads(4, func() time.Duration { return 0 })
	const slack = 1500 * time.Microsecond
	n, err := Set(slack)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 || n > len(tasks) {
		t.Errorf("Set: got %d threads, want between 2 and %d (the process's)", n, len(tasks))
	}
	if got, err := Threads(slack); err != nil || got < n {
		t.Errorf("Threads after Set: got %d, %v; want at least %d, nil", got, err, n)
	}
	// More threads than before: the new ones inherit the slack.
	for i, got := range onNewThreads(runtime.NumCPU()+8, func() time.Duration { return threadSlack(t) }) {
		if got != slack {
			t.Errorf("thread %d: got slack %s, want %s", i, got, slack)
		}
	}
	if _, err := Threads(slack); err != nil {
		t.Errorf("Threads at the end: %v", err)
	}
}

// TestSetRefuses: a slack that is not positive is refused before any
// thread changes.
func TestSetRefuses(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Millisecond} {
		before := threadSlack(t)
		if _, err := Set(d); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("Set(%s): got %v, want an error saying it must be positive", d, err)
		}
		if after := threadSlack(t); after != before {
			t.Errorf("Set(%s) changed the slack: %s → %s", d, before, after)
		}
	}
}
