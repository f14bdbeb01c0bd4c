package daemon

import (
	"context"
	"os"

	"github.com/pbxha/pbxha/configs"
)

// reloadOnRequest reloads the config on every receive from reload. A
// config with problems is refused, logged, and shown in status; the
// running one stays.
func (d *daemon) reloadOnRequest(ctx context.Context, reload <-chan os.Signal, running *configs.Config) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
		}
		d.log.Info("SIGHUP: reloading config")
		next, err := d.opts.Load()
		if err == nil && d.opts.SetLogLevel != nil {
			err = d.opts.SetLogLevel(next.Log.Level)
		}
		var checks *checkSet
		if err == nil {
			checks, err = buildChecks(next, d.log)
		}
		if err != nil {
			d.log.Error("config reload refused; keeping the running config", "err", err)
			d.agent.ReloadFailed(err)
			continue
		}
		// The supervisor, alert delivery and the pair keep their running
		// config: a reload never restarts the PBX, reopens the outbox or
		// touches the VIP.
		pending := configs.KeepRestartOnly(running, next)
		for _, key := range pending {
			d.log.Warn("setting changed but takes effect only at the next start", "key", key)
		}
		if d.pair != nil {
			// The heartbeat keys are read again: a key change (docs/pair.md)
			// takes a SIGHUP on each node, never a restart.
			keys, err := next.HeartbeatKeys()
			if err == nil {
				err = d.pair.SetKeys(keys)
			}
			if err != nil {
				d.log.Error("heartbeat keys not reloaded; the running keys stay", "err", err)
			} else {
				d.log.Info("heartbeat keys reloaded", "next_key", next.Peer.NextKeyFile != "")
			}
		}
		if d.m != nil {
			d.m.ResetProbes()
		}
		ac := d.agentConfig(next, checks)
		ac.PendingRestart = pending
		if err := d.agent.Reload(ctx, ac); err != nil {
			checks.Close()
			return
		}
		running = next
	}
}
