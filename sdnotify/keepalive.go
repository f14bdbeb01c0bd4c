package sdnotify

import (
	"context"
	"log/slog"
	"time"
)

// Service is what KeepAlive watches. Its methods may be called
// concurrently with the service's own work.
type Service interface {
	// Ready is closed once the service does its job (every probe ran).
	Ready() <-chan struct{}
	// Status is the one-line STATUS= text sent with READY=1.
	Status() string
	// LastProgress is when the service last made progress (zero: not
	// yet).
	LastProgress() time.Time
}

// KeepAlive tells systemd (when it runs the service as Type=notify) that
// svc is ready once Ready is closed, and then sends watchdog keep-alives
// every half watchdog timeout while svc makes progress: a service that made
// none for stuckAfter is stuck, the keep-alive is withheld, and systemd's
// watchdog restarts it. It returns when ctx is done, after sending
// STOPPING=1; outside systemd it returns at once.
func KeepAlive(ctx context.Context, n *Notifier, svc Service, stuckAfter time.Duration, logger *slog.Logger) {
	if !n.Enabled() {
		return
	}
	start := time.Now()
	var tick <-chan time.Time
	if wd := n.WatchdogTimeout(); wd > 0 {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		tick = t.C
	}
	ready := svc.Ready()
	for {
		select {
		case <-ctx.Done():
			if err := n.Stopping(); err != nil {
				logger.Debug("systemd notify failed", "err", err)
			}
			return
		case <-ready:
			ready = nil
			if err := n.Ready(svc.Status()); err != nil {
				logger.Warn("systemd notify failed", "err", err)
			}
		case <-tick:
			last := svc.LastProgress()
			if last.IsZero() {
				last = start
			}
			if time.Since(last) > stuckAfter {
				logger.Error("probe loop made no progress; withholding the systemd watchdog keep-alive",
					"since", time.Since(last).Round(time.Millisecond).String())
				continue
			}
			if err := n.Watchdog(); err != nil {
				logger.Warn("systemd watchdog keep-alive failed", "err", err)
			}
		}
	}
}
