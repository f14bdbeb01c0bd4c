package daemon

import (
	"path/filepath"

	"github.com/pbxha/pbxha/agent"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
)

// agentConfig is the agent's view of cfg, wired to the daemon's other parts.
func (d *daemon) agentConfig(cfg *configs.Config, checks *checkSet) agent.Config {
	ac := agent.Config{
		Node: cfg.Node.Name, Cluster: cfg.Node.Cluster, History: cfg.History, Source: cfg.Source,
		MaintenanceFile: filepath.Join(cfg.StateDir, agent.MaintenanceFileName),
		Version:         d.opts.Version, Checks: checks.checks, Close: checks.Close,
	}
	if d.m != nil {
		ac.OnResult = d.m.Observe
	}
	if d.alerts != nil {
		ac.Alerts = func() control.Alerts { return alertsStatus(d.alerts) }
	}
	if d.coord != nil {
		ac.Pair = d.coord.Status
		if cfg.UsesEtcd() {
			ac.Mode = configs.CoordinationEtcd
		}
	}
	if d.sync != nil {
		ac.Sync = d.sync.Status
	}
	if d.rebuild != nil {
		ac.Rebuild = d.rebuild.Status
	}
	if d.sup != nil {
		sup, sc := d.sup, cfg.PBX.Supervise
		ac.PBX = func() control.PBX { return pbxStatus(sup, sc) }
		ac.OnServiceFailed = sup.ServiceFailed
		ac.OnMaintenance = sup.SetMaintenance
	}
	if d.coord != nil {
		// The node decides on events: a probe's change and maintenance
		// mode are decided on at once.
		ac.OnStateChange = d.coord.Poke
		onMaint := ac.OnMaintenance
		ac.OnMaintenance = func(on bool) {
			if onMaint != nil {
				onMaint(on)
			}
			d.coord.Poke()
		}
	}
	return ac
}
