package clock

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// within waits at most d for the timer to fire.
func within(t *testing.T, k *KernelTimer, d time.Duration) (time.Time, bool) {
	t.Helper()
	select {
	case at := <-k.C():
		return at, true
	case <-time.After(d):
		return time.Time{}, false
	}
}

// TestKernelTimer: it fires once after its duration; Reset and Stop
// behave as time.Timer's, with no value from before them received after.
func TestKernelTimer(t *testing.T) {
	start := time.Now()
	k, err := NewKernelTimer(30 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	at, ok := within(t, k, 5*time.Second)
	if !ok {
		t.Fatal("did not fire within 5s of a 30ms timer")
	}
	if got := at.Sub(start); got < 30*time.Millisecond {
		t.Errorf("fired after %s, want at least 30ms", got)
	}
	if _, ok := within(t, k, 100*time.Millisecond); ok {
		t.Error("fired twice")
	}

	// Put off again and again before it fires: it fires once, after the
	// last duration.
	if k.Reset(time.Hour) {
		t.Error("Reset of a timer that fired: got armed true, want false")
	}
	var last time.Time
	for range 20 {
		last = time.Now()
		if !k.Reset(40 * time.Millisecond) {
			t.Error("Reset of an armed timer: got armed false, want true")
		}
		time.Sleep(5 * time.Millisecond)
	}
	at, ok = within(t, k, 5*time.Second)
	if !ok {
		t.Fatal("did not fire after being put off")
	}
	if got := at.Sub(last); got < 40*time.Millisecond {
		t.Errorf("fired %s after the last Reset, want at least 40ms", got)
	}

	// Stopped: never fires; Stop reports whether it was armed.
	k.Reset(20 * time.Millisecond)
	if !k.Stop() {
		t.Error("Stop of an armed timer: got false, want true")
	}
	if k.Stop() {
		t.Error("Stop of a stopped timer: got true, want false")
	}
	if _, ok := within(t, k, 100*time.Millisecond); ok {
		t.Error("a stopped timer fired")
	}

	// Fired but not received: a Reset drops that value.
	k.Reset(time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	k.Reset(time.Hour)
	if _, ok := within(t, k, 100*time.Millisecond); ok {
		t.Error("a value from before Reset was received after it")
	}

	// Not positive: fires at once.
	k.Reset(0)
	if _, ok := within(t, k, 5*time.Second); !ok {
		t.Error("Reset(0) did not fire")
	}
}

// TestKernelTimerClose: Close releases the descriptor and ends the
// timer's goroutine.
func TestKernelTimerClose(t *testing.T) {
	fds := func() int { return testenv.OpenFDs(t, os.Getpid()) }
	before := fds()
	var ks []*KernelTimer
	for range 10 {
		k, err := NewKernelTimer(time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	if got := fds(); got < before+10 {
		t.Fatalf("got %d descriptors with 10 timers, want at least %d", got, before+10)
	}
	for _, k := range ks {
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := fds(); got > before {
		t.Errorf("got %d descriptors after Close, want at most %d", got, before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtimeStack(buf)])
		if !strings.Contains(stacks, "(*KernelTimer).wait") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed timer's goroutine still runs after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runtimeStack(buf []byte) int { return runtime.Stack(buf, true) }
