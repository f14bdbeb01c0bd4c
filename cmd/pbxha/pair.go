package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/supervisor"
	"github.com/pbxha/pbxha/vip"
)

// pair is the two-node side of the daemon (mode pair): the failover node,
// its heartbeat transport, the VIP and the tie-breaker checks.
type pair struct {
	node   *failover.Node
	tr     *failover.UDPTransport
	vip    *vip.VIP      // nil with vip.mode none
	db     *dbrole.Mover // nil without database.dsn
	rejoin *dbRejoin     // nil unless both database.stop_command and demote_command are set
	tb     *tieBreaker
	paths  []failover.Path
	addr   string // the VIP, for status
	log    *slog.Logger
}

// newPair builds the pair runtime from peer, failover and vip. Nothing runs
// until run.
func newPair(cfg *configs.Config, d *daemon) (*pair, error) {
	key, err := failover.LoadKey(cfg.Peer.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: peer.key_file: %w", cfg.Source, err)
	}
	p := &pair{log: d.log.With("component", "failover"), addr: cfg.VIP.Address}
	for _, path := range cfg.Peer.Paths {
		p.paths = append(p.paths, failover.Path{Local: netip.MustParseAddrPort(path.Local), Peer: netip.MustParseAddrPort(path.Peer)})
	}
	policy := failover.DefaultPolicy()
	policy.InitDead, policy.DeadAfter = cfg.Peer.InitDead, cfg.Peer.DeadAfter
	policy.RestartGrace, policy.FailbackDelay, policy.PreferredNode = cfg.Failover.RestartGrace, cfg.Failover.FailbackDelay, cfg.Failover.PreferredNode
	if policy.Mode, err = failover.ParseMode(cfg.Failover.Mode); err != nil {
		return nil, fmt.Errorf("%s: failover.mode: %w", cfg.Source, err)
	}
	policy.NoRestart = d.sup == nil
	if policy.Failback, err = failover.ParseFailback(cfg.Failover.Failback); err != nil {
		return nil, fmt.Errorf("%s: failover.failback: %w", cfg.Source, err)
	}
	policy.NeedFence = len(cfg.Failover.FenceCommand) > 0
	if cfg.VIP.Mode != "none" {
		v := cfg.VIP
		p.vip, err = vip.New(vip.Config{
			Mode: vip.Mode(v.Mode), Interface: v.Interface, Address: v.Address, Label: v.Label,
			GARPCount: v.GARPCount, GARPInterval: v.GARPInterval, Refresh: v.Refresh,
			Script: vip.Script{Up: v.Script.Up, Down: v.Script.Down, Check: v.Script.Check, Timeout: v.Script.Timeout},
		}, p.log)
		if err != nil {
			return nil, fmt.Errorf("%s: vip: %w", cfg.Source, err)
		}
	}
	if c := cfg.Database; c.DSN != "" {
		policy.MaxLagBytes, policy.AllowLagPromote = uint64(c.MaxLagBytes), c.AllowLag
		p.db, err = dbrole.New(dbrole.Config{
			DSN: c.DSN, MaxLagBytes: uint64(c.MaxLagBytes), AllowLag: c.AllowLag, PromoteTimeout: c.PromoteTimeout,
			DemoteCommand: c.DemoteCommand, DemoteTimeout: c.DemoteTimeout, StopCommand: c.StopCommand,
			StopTimeout: c.StopTimeout, Env: c.Env,
		}, p.log.With("component", "dbrole"))
		if err != nil {
			p.closeVIP()
			return nil, fmt.Errorf("%s: database: %w", cfg.Source, err)
		}
		if len(c.StopCommand) > 0 && len(c.DemoteCommand) > 0 {
			p.rejoin = &dbRejoin{db: p.db, node: cfg.Node.Name, log: p.log.With("component", "dbrole"),
				emit: func(e event.Event) { d.events.Publish(e) }}
		}
	}
	if p.tr, err = failover.ListenUDP(p.paths, p.log); err != nil {
		p.closeVIP()
		return nil, fmt.Errorf("%s: peer.paths: %w", cfg.Source, err)
	}
	p.tb = newTieBreaker(cfg.Failover.TieBreakers, cfg.Peer.DeadAfter)
	pbxCmds, err := newPBXCommands(cfg, d.log, func(e event.Event) { d.events.Publish(e) })
	if err != nil {
		p.tr.Close()
		p.closeVIP()
		return nil, err
	}
	p.node, err = failover.NewNode(failover.NodeConfig{
		Cluster: cfg.Node.Cluster, Node: cfg.Node.Name, Key: key, Policy: policy,
		Interval: cfg.Peer.Interval, StateDir: cfg.StateDir, Transport: p.tr,
		Tracker: failover.TrackerConfig{Paths: len(p.paths), DeadAfter: cfg.Peer.DeadAfter},
		Local:   func() failover.LocalState { return p.local(d) },
		Act: &actuators{vip: p.vip, sup: d.sup, db: p.db, rejoin: p.rejoin, pair: p, node: cfg.Node.Name, vipAddr: cfg.VIP.Address,
			peerHost: p.paths[0].Peer.Addr().String(), pbxCmds: pbxCmds, takeover: hookList(cfg.Hooks.Takeover), release: hookList(cfg.Hooks.Release),
			fence: hooks.Hook{Name: "fence", Command: cfg.Failover.FenceCommand, Timeout: cfg.Failover.FenceTimeout}},
		OnEvent: func(e event.Event) { d.events.Publish(e) },
		Logger:  p.log,
		// Stopping as primary hands everything over, the database
		// included; the bound covers every step of a release.
		ReleaseOnStop: true,
		LeaveTimeout:  releaseBudget(cfg),
	})
	if err != nil {
		p.tr.Close()
		p.closeVIP()
		return nil, fmt.Errorf("%s: failover: %w", cfg.Source, err)
	}
	return p, nil
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

func (p *pair) closeVIP() {
	if p.vip != nil {
		p.vip.Close()
	}
}

// local is this node's side of the failover observation.
func (p *pair) local(d *daemon) failover.LocalState {
	states := d.agent.States()
	ls := failover.LocalState{
		Health: probe.Aggregate(states), Probes: failover.Summarize(states), DB: failover.DBNone,
		TieBreakerOK: p.tb.ok(), Maintenance: d.agent.Maintenance(), DBOnlyFailed: dbOnlyFailed(states),
	}
	if p.db != nil {
		ls.DB = failover.DBUnknown
		checks := d.agent.Checks()
		if st, ok := pgState(checks); ok {
			ls.WAL = uint64(st.WALPosition())
			switch st.Role {
			case probe.PGRolePrimary:
				ls.DB = failover.DBPrimary
				// A reading that is not recent says nothing about now:
				// unknown counts as no streaming standby, and a planned
				// switchover waits rather than risk acknowledged writes.
				ls.NoStreamingStandby = st.StreamingStandbys() == 0 || !pgRecent(checks, st, time.Now())
			case probe.PGRoleStandby:
				ls.DB = failover.DBStandby
			}
		}
	}
	if d.sup != nil {
		st := d.sup.Status()
		ls.PBXFault = st.Fault
		ls.RestartPending = st.State == supervisor.StateBackoff || st.State == supervisor.StateStarting
	}
	return ls
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
	go p.tb.run(ctx)
	if err := p.node.Run(ctx); err != nil {
		p.log.Error("failover node stopped", "err", err)
	}
	if p.vip != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.vip.Down(sctx); err != nil {
			p.log.Error("could not release the VIP at shutdown", "err", err)
		}
		cancel()
		p.vip.Close()
	}
	if p.rejoin != nil {
		// A rejoin killed half-way could leave a half-rewound data
		// directory: let it end, within its own timeouts.
		_ = p.rejoin.wait(context.Background())
	}
	p.tr.Close()
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
		if p.db != nil && pv.WAL != 0 {
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

// dbOnlyFailed reports whether the failed critical probes are all database
// (pg) probes: the node's health is failed, but restarting the PBX would
// not help.
func dbOnlyFailed(states []probe.CheckState) bool {
	failed := false
	for _, s := range states {
		if s.Critical && s.State == probe.Failed {
			if s.Kind != "pg" {
				return false
			}
			failed = true
		}
	}
	return failed
}

// pgState returns what the first pg probe last read: the database's role
// and WAL position for the heartbeats.
func pgState(checks []probe.Check) (probe.PGState, bool) {
	for _, c := range checks {
		if pg, ok := c.Probe.(*probe.PG); ok {
			return pg.Last()
		}
	}
	return probe.PGState{}, false
}

// pgRecent reports whether st, the first pg probe's last reading, comes
// from a check begun within two of its intervals and a timeout of now: a
// check that ran late is still recent, one that no longer reaches the
// server is not.
func pgRecent(checks []probe.Check, st probe.PGState, now time.Time) bool {
	for _, c := range checks {
		if _, ok := c.Probe.(*probe.PG); ok {
			return now.Sub(st.At) <= 2*c.Interval+c.Timeout
		}
	}
	return false
}
