package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
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
	node  *failover.Node
	tr    *failover.UDPTransport
	vip   *vip.VIP      // nil with vip.mode none
	db    *dbrole.Mover // nil without database.dsn
	tb    *tieBreaker
	paths []failover.Path
	addr  string // the VIP, for status
	log   *slog.Logger
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
		Act: &actuators{vip: p.vip, sup: d.sup, db: p.db, pair: p, node: cfg.Node.Name, vipAddr: cfg.VIP.Address,
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
		TieBreakerOK: p.tb.ok(), Maintenance: d.agent.Maintenance(),
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

// actuators carries out the node's decisions, in the order DESIGN gives:
// take over the database, then the VIP, then the PBX, then the hooks;
// release in reverse.
type actuators struct {
	vip      *vip.VIP
	sup      *supervisor.Supervisor
	db       *dbrole.Mover
	pair     *pair
	node     string
	vipAddr  string
	peerHost string       // the peer's address on the first path, for the demote and fence commands
	pbxCmds  *pbxCommands // pbx.takeover_esl; nil without
	takeover []hooks.Hook
	release  []hooks.Hook
	fence    hooks.Hook // failover.fence_command; no Command without one
}

func hookList(hs []configs.Hook) []hooks.Hook {
	out := make([]hooks.Hook, 0, len(hs))
	for _, h := range hs {
		out = append(out, hooks.Hook{Name: h.Name, Command: h.Command, Timeout: h.Timeout})
	}
	return out
}

// hookEnv is the event the hook commands see in their environment.
func (a *actuators) hookEnv(event, role, reason string, epoch uint64) map[string]string {
	ns := a.pair.node.Status()
	return hooks.Vars{Event: event, Node: a.node, Peer: ns.Peer.Node, PeerHost: a.peerHost, Role: role,
		Epoch: epoch, VIP: a.vipAddr, Reason: reason}.Map()
}

// TakeOver promotes the database (refused beyond max_lag_bytes behind the
// peer's last announced WAL position, unless a forced switchover asks for
// it), adds and announces the VIP, makes sure the PBX runs, sends the
// pbx.takeover_esl commands (best effort: their failure is alerted, and the
// takeover goes on), then runs the takeover hooks (the first failure fails
// the takeover, which the node undoes with Release and retries).
func (a *actuators) TakeOver(ctx context.Context, epoch uint64, reason string) (failover.Timeline, error) {
	tl := failover.Timeline{Decided: time.Now()}
	tl.Detected = tl.Decided
	if a.db != nil {
		ns := a.pair.node.Status()
		force := ns.Switchover.Request.Force && ns.Switchover.Request.Target == a.node && ns.Switchover.Outcome == "pending"
		if _, err := a.db.Promote(ctx, probe.LSN(ns.Peer.WAL), force); err != nil {
			return tl, fmt.Errorf("promote the database: %w", err)
		}
		tl.DBPromoted = time.Now()
	}
	if a.vip != nil {
		if err := a.vip.Up(ctx); err != nil && !errors.Is(err, vip.ErrAnnounce) {
			return tl, err
		}
		tl.VIPUp = time.Now()
	}
	if a.sup != nil {
		if st := a.sup.Status(); st.State != supervisor.StateRunning && st.State != supervisor.StateUnmanaged {
			if err := a.sup.Start(ctx); err != nil {
				return tl, fmt.Errorf("start the PBX: %w", err)
			}
		}
	}
	if a.pbxCmds != nil {
		a.pbxCmds.send(ctx, epoch)
	}
	if len(a.takeover) > 0 {
		if _, err := hooks.RunAll(ctx, a.takeover, a.hookEnv("takeover", "primary", reason, epoch), hooks.StopAtFailure); err != nil {
			return tl, fmt.Errorf("takeover hooks: %w", err)
		}
	}
	tl.Ready = time.Now()
	return tl, nil
}

// Release runs the release hooks, removes the VIP, then demotes the
// database (stopping it when it cannot be demoted: two writable primaries
// must never coexist); the PBX keeps running as a hot standby.
func (a *actuators) Release(ctx context.Context, reason string) (failover.Timeline, error) {
	var tl failover.Timeline
	if len(a.release) > 0 {
		// Every release hook runs; their failures do not keep the VIP here.
		if _, err := hooks.RunAll(ctx, a.release, a.hookEnv("release", "standby", reason, a.pair.node.Status().Epoch), hooks.ContinueAfterFailure); err != nil {
			a.pair.log.Error("release hooks failed", "err", err)
		}
		tl.HooksRan = time.Now()
	}
	if a.vip != nil {
		if err := a.vip.Down(ctx); err != nil {
			return tl, err
		}
		tl.VIPDown = time.Now()
	}
	if a.db != nil {
		if _, err := a.db.Demote(ctx, dbrole.DemoteArgs{Node: a.node, PeerHost: a.peerHost}); err != nil {
			return tl, fmt.Errorf("demote the database: %w", err)
		}
		tl.DBDemoted = time.Now()
	}
	return tl, nil
}

// RestartPBX restarts the PBX through the supervisor.
func (a *actuators) RestartPBX(ctx context.Context) error {
	if a.sup == nil {
		return errors.New("the PBX is not supervised (pbx.supervise.mode none): cannot restart it")
	}
	return a.sup.Restart(ctx)
}

// Fence runs the fence command against the silent peer, with the event in
// its environment (PBXHA_EVENT=fence, PBXHA_PEER, PBXHA_PEER_HOST...). Exit
// 0 means the peer is fenced; any other exit, or none within fence_timeout
// (the process group is then killed), is an error quoting the command's
// output, and the node does not take over but tries again after its retry
// delay.
func (a *actuators) Fence(ctx context.Context, reason string) error {
	if len(a.fence.Command) == 0 {
		return errors.New("fence: no failover.fence_command configured")
	}
	ns := a.pair.node.Status()
	res, err := hooks.Run(ctx, a.fence, a.hookEnv("fence", "", reason, ns.Epoch))
	if err != nil {
		// The error quotes the first lines; a fence agent says why last.
		if tail := hooks.Tail(res.Output); tail != "" && tail != hooks.Summary(res.Output) {
			err = fmt.Errorf("%w; output ends: %s", err, tail)
		}
		return fmt.Errorf("fence %s (%s): %w", cmp.Or(ns.Peer.Node, "the peer"), a.peerHost, err)
	}
	a.pair.log.Info("peer fenced", "action", failover.ActionFencePeer, "target", a.peerHost, "peer", ns.Peer.Node,
		"took", res.Duration.Round(time.Millisecond), "output", hooks.Tail(res.Output))
	return nil
}

// ReAnnounce repeats the gratuitous ARP / neighbour advertisement.
func (a *actuators) ReAnnounce(ctx context.Context) error {
	if a.vip == nil {
		return nil
	}
	return a.vip.Announce(ctx)
}

// tieBreaker checks that this node reaches at least one of its tie-breaker
// targets by TCP. A node cut off from them (and so perhaps from everyone)
// never takes over.
type tieBreaker struct {
	targets []string
	every   time.Duration // between rounds; also each connect's deadline
	window  time.Duration // ok: a target answered within this long
	last    atomic.Int64  // unix nanoseconds of the last success
}

// newTieBreaker sizes the checks to dead_after: a round every dead_after/5,
// ok while a target answered within dead_after/2. The peer is declared dead
// dead_after after its last heartbeat, and whatever silenced it happened
// at most one heartbeat interval (≤ dead_after/2) after that heartbeat; so
// an answer within the window came after the silence began, and proves
// this node's own network still works — a node whose link just went down
// does not take over on the strength of an answer from before.
func newTieBreaker(targets []string, deadAfter time.Duration) *tieBreaker {
	return &tieBreaker{targets: targets, every: deadAfter / 5, window: deadAfter / 2}
}

func (t *tieBreaker) run(ctx context.Context) {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		for _, target := range t.targets {
			c, err := (&net.Dialer{Timeout: t.every}).DialContext(ctx, "tcp", target)
			if err == nil {
				c.Close()
				t.last.Store(time.Now().UnixNano())
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ok reports whether a target answered within the window.
func (t *tieBreaker) ok() bool {
	last := t.last.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < t.window
}

// switchover drains this node's calls when it is primary (up to drain), then
// asks for the planned move and waits until the target is primary, the
// request times out, or ctx ends; a request still pending then is ended, so
// that it does not move the service after its caller stopped waiting.
func (p *pair) switchover(ctx context.Context, d *daemon, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	start := time.Now()
	ns := p.node.Status()
	peer := ns.Peer.Node
	if to != "" && to != ns.Node && (peer == "" || to != peer) {
		return control.SwitchoverResult{}, fmt.Errorf("switchover: %q is not a node of this pair (%s, %s)", to, ns.Node, cmp.Or(peer, "peer not heard yet"))
	}
	res := control.SwitchoverResult{Target: to}
	var drained []failover.Step
	if ns.Role == failover.RolePrimary && drain > 0 {
		res.Drained = activeCalls(d.agent.States())
		deadline := time.Now().Add(drain)
		for activeCalls(d.agent.States()) > 0 && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		what := "no active calls to drain"
		switch left := activeCalls(d.agent.States()); {
		case res.Drained > 0 && left == 0:
			what = fmt.Sprintf("%d active call(s) drained", res.Drained)
		case left > 0:
			what = fmt.Sprintf("drain timeout %s: %d call(s) still active", drain, left)
		}
		drained = append(drained, failover.Step{At: time.Now(), Node: ns.Node, What: what})
	}
	id := p.node.RequestSwitchover(to, force)
	timeline := func(ns failover.NodeStatus) []control.TimelineStep {
		var out []control.TimelineStep
		for _, s := range append(drained, ns.Switchover.Steps...) {
			out = append(out, control.TimelineStep{At: s.At, OffsetMS: ms(s.At.Sub(start)), Node: s.Node, What: s.What})
		}
		slices.SortStableFunc(out, func(a, b control.TimelineStep) int { return a.At.Compare(b.At) })
		return out
	}
	for {
		ns = p.node.Status()
		if ns.Switchover.Request.ID == id && ns.Switchover.Outcome != "pending" {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
			continue
		}
		// The reason is the one the request waited on.
		if reason := ns.Reason; p.node.EndSwitchover(id) {
			ns = p.node.Status()
			ns.Reason = reason
		} else {
			ns = p.node.Status() // it ended meanwhile
		}
		break
	}
	res.Outcome, res.Target, res.Reason, res.Epoch = ns.Switchover.Outcome, ns.Switchover.Request.Target, ns.Reason, ns.Epoch
	if ns.Switchover.Request.ID != id {
		res.Outcome, res.Target = "replaced by a later request", to
	}
	res.Timeline = timeline(ns)
	switch {
	case ns.Role == failover.RolePrimary:
		res.Primary = ns.Node
	case ns.Peer.Alive && ns.Peer.Role == failover.RolePrimary:
		res.Primary = ns.Peer.Node
	}
	res.TookMS = ms(time.Since(start))
	return res, nil
}

// activeCalls sums the call counts the esl and ami probes last read.
func activeCalls(states []probe.CheckState) int {
	n := 0
	for _, s := range states {
		if s.Last != nil && (s.Kind == "esl" || s.Kind == "ami") {
			n += int(s.Last.Values["calls"])
		}
	}
	return n
}
