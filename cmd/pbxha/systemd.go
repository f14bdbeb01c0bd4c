package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pbxha/pbxha/agent"
	"github.com/pbxha/pbxha/sdnotify"
)

// notifySystemd tells systemd (when it runs pbxha as Type=notify) that pbxha
// is ready once every probe has run, and then sends watchdog keep-alives while
// the probe loop makes progress: a loop that produced no result for three of
// its longest intervals is stuck, and systemd's watchdog restarts it. It
// returns when ctx is done, after sending STOPPING=1.
func notifySystemd(ctx context.Context, n *sdnotify.Notifier, a *agent.Agent, maxInterval time.Duration, logger *slog.Logger) {
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
	ready := a.Ready()
	for {
		select {
		case <-ctx.Done():
			if err := n.Stopping(); err != nil {
				logger.Debug("systemd notify failed", "err", err)
			}
			return
		case <-ready:
			ready = nil
			msg := fmt.Sprintf("probing, health %s", a.Health())
			if err := n.Ready(msg); err != nil {
				logger.Warn("systemd notify failed", "err", err)
			}
		case <-tick:
			last := a.LastProgress()
			if last.IsZero() {
				last = start
			}
			if time.Since(last) > 3*maxInterval {
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
