package vip

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sendLog records when an announcer sent, on synctest's fake clock.
type sendLog struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
	held  bool
	err   error
}

func (l *sendLog) send() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Since(l.start))
	return l.err
}

func (l *sendLog) isHeld() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, nil
}

func (l *sendLog) times() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.at...)
}

func TestAnnouncerSchedule(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		sched    schedule
		sendErr  error
		runFor   time.Duration
		lostAt   time.Duration // the address vanishes at this time; 0: never
		wantSent []time.Duration
	}{
		{"default burst", schedule{Remaining: 4, Interval: 200 * ms}, nil, 5 * time.Second, 0,
			[]time.Duration{200 * ms, 400 * ms, 600 * ms, 800 * ms}},
		{"single announcement", schedule{Remaining: 0, Interval: 200 * ms}, nil, 5 * time.Second, 0, nil},
		{"failed sends go on", schedule{Remaining: 2, Interval: 100 * ms}, errors.New("network is down"), time.Second, 0,
			[]time.Duration{100 * ms, 200 * ms}},
		{"refresh after burst", schedule{Remaining: 1, Interval: 100 * ms, Refresh: time.Second}, nil, 3500 * ms, 0,
			[]time.Duration{100 * ms, 1100 * ms, 2100 * ms, 3100 * ms}},
		{"no refresh for a lost address", schedule{Remaining: 1, Interval: 100 * ms, Refresh: time.Second}, nil, 3500 * ms, 1500 * ms,
			[]time.Duration{100 * ms, 1100 * ms}},
		{"cancel mid-burst", schedule{Remaining: 10, Interval: 200 * ms}, nil, 500 * ms, 0,
			[]time.Duration{200 * ms, 400 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &sendLog{start: time.Now(), held: true, err: tc.sendErr}
				a := announcer{send: l.send, held: l.isHeld, log: slog.New(slog.DiscardHandler)}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					a.run(ctx, tc.sched)
				}()
				if tc.lostAt > 0 {
					time.Sleep(tc.lostAt)
					l.mu.Lock()
					l.held = false
					l.mu.Unlock()
					time.Sleep(tc.runFor - tc.lostAt)
				} else {
					time.Sleep(tc.runFor)
				}
				cancel()
				<-done
				got := l.times()
				if len(got) != len(tc.wantSent) {
					t.Fatalf("sent at %v, want %v", got, tc.wantSent)
				}
				for i := range got {
					if got[i] != tc.wantSent[i] {
						t.Fatalf("sent at %v, want %v", got, tc.wantSent)
					}
				}
			})
		})
	}
}

// TestAnnouncerEndsWithoutRefresh: a burst without refresh ends on its own.
func TestAnnouncerEndsWithoutRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &sendLog{start: time.Now(), held: true}
		a := announcer{send: l.send, held: l.isHeld, log: slog.New(slog.DiscardHandler)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.run(context.Background(), schedule{Remaining: 3, Interval: time.Second})
		}()
		<-done
		if got := time.Since(l.start); got != 3*time.Second {
			t.Errorf("ended after %s, want 3s", got)
		}
	})
}
