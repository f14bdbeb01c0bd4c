package daemon

import (
	"fmt"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/etcdha"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
)

// newEtcd wires the etcd runtime (coordination etcd) from etcd, failover,
// vip, database and hooks: the same resources as a pair. Nothing runs
// until Run.
func newEtcd(cfg *configs.Config, d *daemon) (*etcdha.Runtime, error) {
	tlsCfg, err := cfg.EtcdTLS()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Source, err)
	}
	policy := cfg.CoordPolicy()
	policy.NoRestart = d.sup == nil
	log := d.log.With("component", "etcd")
	emit := func(e event.Event) { d.events.Publish(e) }
	ec := etcdha.Config{
		Cluster: cfg.Node.Cluster, Node: cfg.Node.Name, Endpoints: cfg.Etcd.Endpoints, Prefix: cfg.Etcd.Prefix,
		TLS: tlsCfg, Priority: cfg.Etcd.Priority, Policy: policy, TieBreakers: cfg.Failover.TieBreakers,
		VIPAddr: cfg.VIP.Address, Rejoin: cfg.DatabaseRejoins(), LeaveTimeout: releaseBudget(cfg),
		TrackInterfaces: cfg.Failover.TrackInterfaces,
		States:          func() []probe.CheckState { return d.agent.States() },
		Checks:          func() []probe.Check { return d.agent.Checks() },
		Maintenance:     func() bool { return d.agent.Maintenance() },
		DB:              cfg.Database.DSN != "", OnEvent: emit, Logger: log,
	}
	// No standby rebuild with etcd (config check refuses its keys).
	ec.RejoinAdvice = "rebuild it from the leader by hand with pg_basebackup (docs/etcd.md)"
	if cfg.DatabaseKind().MySQLFamily() {
		ec.RejoinAdvice = "point it at the new primary by hand (docs/mysql.md)"
	}
	if ec.Resources, ec.VIP, err = newResources(cfg, d, log, emit); err != nil {
		return nil, err
	}
	r, err := etcdha.New(ec)
	if err != nil {
		return nil, fmt.Errorf("%s: etcd: %w", cfg.Source, err)
	}
	return r, nil
}
