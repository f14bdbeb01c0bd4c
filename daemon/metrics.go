package daemon

import (
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/metrics"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

// newMetrics builds the metrics (metrics.listen is set) and adds them to
// the event sinks, for takeovers and PBX restarts. They read the agent's
// health, and the agent, built after them, feeds them.
func (d *daemon) newMetrics(cfg *configs.Config) *metrics.Metrics {
	m := metrics.New(func() probe.Health { return d.agent.Health() })
	m.SetInfo(cfg.Node.Name, cfg.Node.Cluster, d.opts.Version, func() string { return d.agent.Role() })
	if d.coord != nil {
		m.SetProblem(d.coord.Problem)
	}
	if d.alerts != nil {
		m.AlertFuncs(alertCounters(d.alerts))
	}
	if d.sync != nil || d.rebuild != nil {
		var sy func() control.Sync
		var rb func() *control.Rebuild
		if d.sync != nil {
			sy = d.sync.Status
		}
		if d.rebuild != nil {
			rb = d.rebuild.Status
		}
		m.SyncFuncs(sy, rb)
	}
	d.events.Sinks = append(d.events.Sinks, m)
	return m
}

// haMetrics wires the HA dashboard's metrics to the agent, the pair and the
// supervisor. The VIP is asked only where that is cheap: netlink, or a
// script without a check command.
func (d *daemon) haMetrics(cfg *configs.Config) metrics.HA {
	ha := metrics.HA{Role: d.agent.Role, Maintenance: d.agent.Maintenance, Reload: d.agent.ReloadState}
	if d.coord != nil {
		ha.Pair = func() (control.Pair, bool) { _, p := d.coord.Status(); return p, true }
		if cfg.VIP.Mode == string(vip.ModeNetlink) || (cfg.VIP.Mode == string(vip.ModeScript) && len(cfg.VIP.Script.Check) == 0) {
			ha.VIPHeld = d.coord.VIPHeld
		}
	}
	if d.sup != nil {
		sup, sc := d.sup, cfg.PBX.Supervise
		ha.PBX = func() (control.PBX, bool) { return pbxStatus(sup, sc), true }
	}
	return ha
}
