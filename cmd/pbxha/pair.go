package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

// pair is the two-node side of the daemon (mode pair): the failover node,
// its heartbeat transport, the act stage over the resources, and the
// tie-breaker checks.
type pair struct {
	node  *failover.Node
	tr    *failover.UDPTransport
	act   *act.Actuators
	vip   *vip.VIP // nil with vip.mode none
	db    bool     // a database is managed (database.dsn)
	tb    *act.TieBreaker
	paths []failover.Path
	addr  string // the VIP, for status
	log   *slog.Logger
}

// newPair wires the pair from peer, failover, vip, database and hooks.
// Nothing runs until run.
func newPair(cfg *configs.Config, d *daemon) (_ *pair, err error) {
	key, err := failover.LoadKey(cfg.Peer.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: peer.key_file: %w", cfg.Source, err)
	}
	p := &pair{log: d.log.With("component", "failover"), addr: cfg.VIP.Address, db: cfg.Database.DSN != ""}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	for _, path := range cfg.Peer.Paths {
		p.paths = append(p.paths, failover.Path{Local: netip.MustParseAddrPort(path.Local), Peer: netip.MustParseAddrPort(path.Peer)})
	}
	policy, err := pairPolicy(cfg)
	if err != nil {
		return nil, err
	}
	policy.NoRestart = d.sup == nil
	emit := func(e event.Event) { d.events.Publish(e) }
	var r act.Resources
	if cfg.VIP.Mode != "none" {
		p.vip, err = vip.New(cfg.VIPConfig(), p.log)
		if err != nil {
			return nil, fmt.Errorf("%s: vip: %w", cfg.Source, err)
		}
		r.VIP = p.vip
	}
	if p.db {
		r.DB, err = dbrole.New(cfg.DBRoleConfig(), p.log.With("component", "dbrole"))
		if err != nil {
			return nil, fmt.Errorf("%s: database: %w", cfg.Source, err)
		}
	}
	if d.sup != nil {
		r.PBX = act.Supervised(d.sup)
	}
	if r.Commands, err = newESLCommands(cfg, d.log, emit); err != nil {
		return nil, err
	}
	if len(cfg.Hooks.Takeover)+len(cfg.Hooks.Release) > 0 {
		r.Hooks = act.HookCommands{OnTakeover: hookList(cfg.Hooks.Takeover), OnRelease: hookList(cfg.Hooks.Release)}
	}
	if len(cfg.Failover.FenceCommand) > 0 {
		r.Fence = act.FenceCommand{Hook: hooks.Hook{Name: "fence", Command: cfg.Failover.FenceCommand, Timeout: cfg.Failover.FenceTimeout}, Logger: p.log}
	}
	p.act = act.New(act.Config{
		Node: cfg.Node.Name, VIPAddr: cfg.VIP.Address, PeerHost: p.paths[0].Peer.Addr().String(),
		Rejoin: len(cfg.Database.StopCommand) > 0 && len(cfg.Database.DemoteCommand) > 0,
		Logger: p.log, OnEvent: emit,
	}, r)
	if p.tr, err = failover.ListenUDP(p.paths, p.log); err != nil {
		return nil, fmt.Errorf("%s: peer.paths: %w", cfg.Source, err)
	}
	p.tb = act.NewTieBreaker(cfg.Failover.TieBreakers, cfg.Peer.DeadAfter, nil)
	// The agent is built after the pair: read it through the daemon.
	src := act.Sources{
		States:      func() []probe.CheckState { return d.agent.States() },
		Checks:      func() []probe.Check { return d.agent.Checks() },
		Maintenance: func() bool { return d.agent.Maintenance() },
		DB:          p.db, PBX: r.PBX, TieBreaker: p.tb,
	}
	p.node, err = failover.NewNode(failover.NodeConfig{
		Cluster: cfg.Node.Cluster, Node: cfg.Node.Name, Key: key, Policy: policy,
		Interval: cfg.Peer.Interval, StateDir: cfg.StateDir, Transport: p.tr,
		Tracker: failover.TrackerConfig{Paths: len(p.paths), DeadAfter: cfg.Peer.DeadAfter},
		Local:   func() failover.LocalState { return src.Local(time.Now()) },
		Act:     p.act,
		OnEvent: emit,
		Logger:  p.log,
		// Stopping as primary hands everything over, the database
		// included; the bound covers every step of a release.
		ReleaseOnStop: true,
		LeaveTimeout:  releaseBudget(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: failover: %w", cfg.Source, err)
	}
	return p, nil
}

// pairPolicy is the decision policy from peer and failover.
func pairPolicy(cfg *configs.Config) (failover.Policy, error) {
	var err error
	p := failover.DefaultPolicy()
	p.InitDead, p.DeadAfter = cfg.Peer.InitDead, cfg.Peer.DeadAfter
	p.RestartGrace, p.FailbackDelay, p.PreferredNode = cfg.Failover.RestartGrace, cfg.Failover.FailbackDelay, cfg.Failover.PreferredNode
	if p.Mode, err = failover.ParseMode(cfg.Failover.Mode); err != nil {
		return p, fmt.Errorf("%s: failover.mode: %w", cfg.Source, err)
	}
	if p.Failback, err = failover.ParseFailback(cfg.Failover.Failback); err != nil {
		return p, fmt.Errorf("%s: failover.failback: %w", cfg.Source, err)
	}
	p.NeedFence = len(cfg.Failover.FenceCommand) > 0
	if cfg.Database.DSN != "" {
		p.MaxLagBytes, p.AllowLagPromote = uint64(cfg.Database.MaxLagBytes), cfg.Database.AllowLag
	}
	return p, nil
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

func hookList(hs []configs.Hook) []hooks.Hook {
	out := make([]hooks.Hook, 0, len(hs))
	for _, h := range hs {
		out = append(out, hooks.Hook{Name: h.Name, Command: h.Command, Timeout: h.Timeout})
	}
	return out
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

// close releases what newPair opened.
func (p *pair) close() {
	if p.tr != nil {
		p.tr.Close()
	}
	if p.vip != nil {
		p.vip.Close()
	}
}

// run runs the pair until ctx is done. A standby must not hold the VIP, so
// the address is removed at start. A primary that stops releases everything
// (hooks, VIP, database) and tells the peer, which takes over at once; the
// VIP is removed again after, in case that release failed part-way. The PBX
// keeps running either way.
func (p *pair) run(ctx context.Context) {
	if p.vip != nil {
		if removed, err := p.vip.EnsureAbsent(ctx); err != nil {
			p.log.Error("could not make sure this node does not hold the VIP at start-up", "err", err)
		} else if removed {
			p.log.Warn("removed the VIP left on this node; it starts as standby")
		}
	}
	go p.tb.Run(ctx)
	if err := p.node.Run(ctx); err != nil {
		p.log.Error("failover node stopped", "err", err)
	}
	if p.vip != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.vip.Down(sctx); err != nil {
			p.log.Error("could not release the VIP at shutdown", "err", err)
		}
		cancel()
	}
	// A rejoin killed half-way could leave a half-rewound data directory:
	// let it end, within its own timeouts.
	_ = p.act.WaitRejoin(context.Background())
	p.close()
}

// switchover runs a planned switchover asked for over the control API.
func (p *pair) switchover(ctx context.Context, d *daemon, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	sw := act.Switchover{Node: p.node, Calls: func() (int, bool) { return probe.ActiveCalls(d.agent.States()) }}
	return sw.Run(ctx, to, drain, force)
}

// status renders the failover state for the control API. localWAL is this
// node's database WAL position (0 when unknown).
func (p *pair) status(localWAL uint64) (string, control.Pair) {
	ns := p.node.Status()
	out := control.Pair{Epoch: ns.Epoch, Reason: ns.Reason, LastError: ns.LastError, VIP: p.addr}
	pv := ns.Peer
	out.Peer = control.PeerState{Node: pv.Node, Alive: pv.Alive, Epoch: pv.Epoch}
	if pv.Heard {
		out.Peer.Role, out.Peer.Health = pv.Role.String(), pv.Health.String()
		t := pv.LastHeard
		out.Peer.LastHeard = &t
		if p.db && pv.WAL != 0 {
			out.Peer.WAL = probe.LSN(pv.WAL).String()
			if pv.WAL > localWAL {
				out.Peer.LagBytes = pv.WAL - localWAL
			}
		}
	}
	for i, path := range p.paths {
		ps := control.PathState{Local: path.Local.String(), Peer: path.Peer.String()}
		if i < len(ns.Paths) {
			ps.Alive = ns.Paths[i].Alive
			if t := ns.Paths[i].LastHeard; !t.IsZero() {
				ps.LastHeard = &t
			}
		}
		out.Peer.Paths = append(out.Peer.Paths, ps)
	}
	for _, h := range ns.History {
		out.RoleHistory = append(out.RoleHistory, control.RoleHistory{At: h.At, From: h.From.String(), To: h.To.String(), Epoch: h.Epoch, Reason: h.Reason})
	}
	return ns.Role.String(), out
}
