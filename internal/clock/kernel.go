package clock

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// KernelTimer is a Timer on a timerfd of the kernel's monotonic clock, for
// a timer that is put off often. The Go runtime keeps a timer in its heap
// at the time it was first set for: put off (Reset to a later time) or
// stopped, it still wakes a thread of the process then, only to find
// nothing due (the heap is tidied lazily). Reset and Stop here reprogram
// the kernel's timer instead, which wakes nothing. The decision loop's
// timer is one: the peer's acknowledgements put it off five times a second
// at rest (failover's pushBack).
//
// It follows time.Timer: C delivers the time once the timer fires, and no
// value from before a Reset or Stop is received after it returns. It runs
// on the system clock whatever the Clock in use: code on a fake clock (a
// synctest bubble) must not use it. Close releases its descriptor.
type KernelTimer struct {
	f *os.File
	c chan time.Time

	mu    sync.Mutex
	armed bool
	at    time.Time // when it fires, while armed
}

// NewKernelTimer returns a KernelTimer that fires after d.
func NewKernelTimer(d time.Duration) (*KernelTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("clock: kernel timer: timerfd_create: %w", err)
	}
	// A non-blocking descriptor joins the runtime's poller: a read waits
	// in it without holding a thread.
	t := &KernelTimer{f: os.NewFile(uintptr(fd), "timerfd"), c: make(chan time.Time, 1)}
	go t.wait()
	t.Reset(d)
	return t, nil
}

// C delivers the time once the timer fires.
func (t *KernelTimer) C() <-chan time.Time { return t.c }

// Reset re-arms the timer to fire after d (at once when d is not
// positive) and reports whether it was armed.
func (t *KernelTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.drainLocked()
	t.armed, t.at = true, time.Now().Add(d)
	t.setLocked(max(d, time.Nanosecond)) // zero would disarm it
	return was
}

// Stop disarms the timer and reports whether it was armed.
func (t *KernelTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed = false
	t.drainLocked()
	t.setLocked(0)
	return was
}

// Close stops the timer and releases its descriptor; it is not used after.
func (t *KernelTimer) Close() error {
	t.Stop()
	return t.f.Close()
}

func (t *KernelTimer) drainLocked() {
	select {
	case <-t.c:
	default:
	}
}

// setLocked programs the kernel's timer to expire after d, or disarms it
// when d is zero. It cannot fail on a valid timerfd and a duration that is
// not negative, so a failure is a bug.
func (t *KernelTimer) setLocked(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	sc, err := t.f.SyscallConn()
	if err == nil {
		cerr := sc.Control(func(fd uintptr) { err = unix.TimerfdSettime(int(fd), 0, &spec, nil) })
		err = errors.Join(err, cerr)
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		panic(fmt.Sprintf("clock: kernel timer: timerfd_settime %s: %v", d, err))
	}
}

// wait delivers each expiry that is still the armed one (a Reset may have
// re-armed the timer since it expired) until the timer is closed.
func (t *KernelTimer) wait() {
	var ticks [8]byte
	for {
		if _, err := t.f.Read(ticks[:]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // EINTR and the like: the poller waits again
		}
		now := time.Now()
		t.mu.Lock()
		switch {
		case !t.armed:
		case now.Before(t.at):
			// Not expected (the kernel's expiry is never before at),
			// but an expiry lost would leave the timer silent for good.
			t.setLocked(t.at.Sub(now))
		default:
			t.armed = false
			t.drainLocked()
			t.c <- now
		}
		t.mu.Unlock()
	}
}
