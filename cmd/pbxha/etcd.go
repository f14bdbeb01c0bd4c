package main

import (
	"fmt"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/etcdha"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
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
	if d.sup != nil {
		ec.Resources.PBX = act.Supervised(d.sup)
	}
	if ec.Resources.Commands, err = newESLCommands(cfg, d.log, emit); err != nil {
		return nil, err
	}
	if len(cfg.PBX.TakeoverAMI) > 0 {
		if ec.Resources.Commands, err = newAMICommands(cfg, d.log, emit); err != nil {
			return nil, err
		}
	}
	if len(cfg.Hooks.Takeover)+len(cfg.Hooks.Release) > 0 {
		ec.Resources.Hooks = act.HookCommands{OnTakeover: configs.HookList(cfg.Hooks.Takeover), OnRelease: configs.HookList(cfg.Hooks.Release)}
	}
	if ec.DB {
		if ec.Resources.DB, err = newDatabase(cfg, log); err != nil {
			return nil, fmt.Errorf("%s: database: %w", cfg.Source, err)
		}
	}
	if cfg.VIP.Mode != "none" {
		if ec.VIP, err = vip.New(cfg.VIPConfig(), log); err != nil {
			return nil, fmt.Errorf("%s: vip: %w", cfg.Source, err)
		}
	}
	r, err := etcdha.New(ec)
	if err != nil {
		return nil, fmt.Errorf("%s: etcd: %w", cfg.Source, err)
	}
	return r, nil
}
