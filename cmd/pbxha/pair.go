package main

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/mysqlrole"
	"github.com/pbxha/pbxha/pair"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

// newPair wires the pair from peer, failover, vip, database and hooks.
// Nothing runs until Run.
func newPair(cfg *configs.Config, d *daemon) (*pair.Pair, error) {
	keys, err := cfg.HeartbeatKeys()
	if err != nil {
		return nil, err
	}
	policy, err := cfg.FailoverPolicy()
	if err != nil {
		return nil, err
	}
	policy.NoRestart = d.sup == nil
	log := d.log.With("component", "failover")
	emit := func(e event.Event) { d.events.Publish(e) }
	pc := pair.Config{
		Cluster: cfg.Node.Cluster, Node: cfg.Node.Name, Keys: keys, Paths: cfg.HeartbeatPaths(),
		Interval: cfg.Peer.Interval, DeadAfter: cfg.Peer.DeadAfter, Policy: policy, StateDir: cfg.StateDir,
		TieBreakers: cfg.Failover.TieBreakers, VIPAddr: cfg.VIP.Address,
		Rejoin:       cfg.DatabaseRejoins(),
		LeaveTimeout: releaseBudget(cfg), TrackInterfaces: cfg.Failover.TrackInterfaces,
		UnprotectedGrace: cfg.Failover.UnprotectedGrace, MaxClockOffset: cfg.Failover.MaxClockOffset,
		// The agent is built after the pair: read it through the daemon.
		States:      func() []probe.CheckState { return d.agent.States() },
		Checks:      func() []probe.Check { return d.agent.Checks() },
		Maintenance: func() bool { return d.agent.Maintenance() },
		DB:          cfg.Database.DSN != "", OnEvent: emit, Logger: log,
		// File sync and rebuilds are built after the pair: read them
		// through the daemon.
		FilesSynced: func() time.Time {
			if d.sync == nil {
				return time.Time{}
			}
			return d.sync.LastSynced()
		},
		OnRejoinFailed: rebuildOnRejoinFailure(cfg, d),
	}
	if cfg.DatabaseKind().MySQLFamily() {
		pc.RejoinAdvice = "point it at the new primary by hand (docs/mysql.md)"
	}
	if d.sup != nil {
		pc.Resources.PBX = act.Supervised(d.sup)
	}
	if pc.Resources.Commands, err = newESLCommands(cfg, d.log, emit); err != nil {
		return nil, err
	}
	if len(cfg.PBX.TakeoverAMI) > 0 {
		if pc.Resources.Commands, err = newAMICommands(cfg, d.log, emit); err != nil {
			return nil, err
		}
	}
	if len(cfg.Hooks.Takeover)+len(cfg.Hooks.Release) > 0 {
		pc.Resources.Hooks = act.HookCommands{OnTakeover: configs.HookList(cfg.Hooks.Takeover), OnRelease: configs.HookList(cfg.Hooks.Release)}
	}
	if len(cfg.Failover.FenceCommand) > 0 {
		pc.Resources.Fence = act.FenceCommand{Hook: hooks.Hook{Name: "fence", Command: cfg.Failover.FenceCommand, Timeout: cfg.Failover.FenceTimeout}, Logger: log}
	}
	if pc.DB {
		if pc.Resources.DB, err = newDatabase(cfg, log); err != nil {
			return nil, fmt.Errorf("%s: database: %w", cfg.Source, err)
		}
	}
	if cfg.VIP.Mode != "none" {
		if pc.VIP, err = vip.New(cfg.VIPConfig(), log); err != nil {
			return nil, fmt.Errorf("%s: vip: %w", cfg.Source, err)
		}
	}
	p, err := pair.New(pc)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: peer.paths: a heartbeat port is already bound by another process (another pbxha?), so the heartbeat cannot start: %w", cfg.Source, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: peer: %w", cfg.Source, err)
	}
	return p, nil
}

// newDatabase builds the role mover of database.kind.
func newDatabase(cfg *configs.Config, log *slog.Logger) (act.Database, error) {
	if cfg.DatabaseKind().MySQLFamily() {
		return mysqlrole.New(cfg.MySQLRoleConfig(), log.With("component", "mysqlrole"))
	}
	return dbrole.New(cfg.DBRoleConfig(), log.With("component", "dbrole"))
}

// newESLCommands returns nil when pbx.takeover_esl is empty. The password
// (or its file) is read now, so that a missing file stops the start.
func newESLCommands(cfg *configs.Config, log *slog.Logger, emit func(event.Event)) (act.TakeoverCommands, error) {
	if len(cfg.PBX.TakeoverESL) == 0 {
		return nil, nil
	}
	if len(cfg.Probes.ESL) == 0 {
		return nil, fmt.Errorf("%s: pbx.takeover_esl: needs an esl probe (probes.esl)", cfg.Source)
	}
	p := cfg.Probes.ESL[0]
	pw, err := secret(p.Password, p.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("%s: probes.esl[0].password_file: %w", cfg.Source, err)
	}
	return &act.ESLCommands{Node: cfg.Node.Name, Addr: p.Address, Password: pw, Commands: cfg.PBX.TakeoverESL,
		Timeout: cfg.PBX.TakeoverESLTimeout, Logger: log.With("component", "takeover_esl"), OnEvent: emit}, nil
}

// newAMICommands builds the pbx.takeover_ami sender from the first ami
// probe's address and user; its secret (or file) is read now, so that a
// missing file stops the start.
func newAMICommands(cfg *configs.Config, log *slog.Logger, emit func(event.Event)) (act.TakeoverCommands, error) {
	if len(cfg.Probes.AMI) == 0 {
		return nil, fmt.Errorf("%s: pbx.takeover_ami: needs an ami probe (probes.ami)", cfg.Source)
	}
	p := cfg.Probes.AMI[0]
	sec, err := secret(p.Secret, p.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("%s: probes.ami[0].secret_file: %w", cfg.Source, err)
	}
	return &act.AMICommands{Node: cfg.Node.Name, Addr: p.Address, Username: p.Username, Secret: sec, Commands: cfg.PBX.TakeoverAMI,
		Timeout: cfg.PBX.TakeoverAMITimeout, Logger: log.With("component", "takeover_ami"), OnEvent: emit}, nil
}

// releaseBudget is the longest a release can take: the release hooks, the
// VIP script, the demote and stop commands, plus slack for the rest.
func releaseBudget(cfg *configs.Config) time.Duration {
	d := 10*time.Second + cfg.VIP.Script.Timeout + cfg.Database.DemoteTimeout + cfg.Database.StopTimeout
	for _, h := range cfg.Hooks.Release {
		d += h.Timeout
	}
	return d
}
