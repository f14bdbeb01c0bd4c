package vip

import (
	"context"
	"log/slog"
	"time"
)

// schedule is when announcements go out after the first one, which Up and
// Announce send themselves before returning.
type schedule struct {
	Remaining int           // further announcements of the burst
	Interval  time.Duration // between burst announcements
	Refresh   time.Duration // then one every Refresh while held; 0: none
}

// announcer sends what the VIP's schedule asks for. send announces once;
// held reports whether the address is still here (checked before each
// refresh, so pbxha never announces an address it lost).
type announcer struct {
	send func() error
	held func() (bool, error)
	log  *slog.Logger
}

// run sends the rest of a burst, then refreshes, until ctx ends. It blocks;
// the VIP runs it on its own goroutine and cancels ctx on Down and Close.
func (a announcer) run(ctx context.Context, s schedule) {
	t := time.NewTimer(s.Interval)
	defer t.Stop()
	for i := 0; i < s.Remaining; i++ {
		if i > 0 {
			t.Reset(s.Interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.send(); err != nil {
			a.log.Warn("announcement failed", "action", "announce", "err", err)
		}
	}
	if s.Refresh <= 0 {
		return
	}
	lost := false
	for {
		t.Reset(s.Refresh)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := a.held()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			a.log.Warn("refresh: cannot tell whether the address is held", "action", "refresh", "err", err)
			continue
		case !ok:
			if !lost {
				a.log.Error("refresh: the address vanished from the interface while held; not announcing it", "action", "refresh")
			}
			lost = true
			continue
		case lost:
			a.log.Info("refresh: the address is back on the interface", "action", "refresh")
			lost = false
		}
		if err := a.send(); err != nil {
			a.log.Warn("refresh announcement failed", "action", "refresh", "err", err)
		}
	}
}
