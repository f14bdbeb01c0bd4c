// Package pair runs the two-node side of a pbxha node: it wires the
// failover node to its UDP heartbeat paths, the act stage and the
// tie-breaker, starts and stops them in order (a node starts without the
// VIP; a primary that stops hands over), and reports the pair for the
// control API.
package pair

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/act"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/linkwatch"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

// Config is what the pair runs on.
type Config struct {
	Cluster, Node string
	Keys          failover.Keys   // the heartbeat keys
	Paths         []failover.Path // the heartbeat paths; the first names the peer's host for the act stage
	Interval      time.Duration   // heartbeat interval
	DeadAfter     time.Duration   // peer silence that means dead
	Policy        failover.Policy // the decision settings
	StateDir      string          // the epoch file
	TieBreakers   []string        // host:port targets
	VIPAddr       string          // for status and the hooks' environment ("" without a VIP)
	// VIP is the service address's netlink or script backend (nil with
	// vip.mode none): the pair removes it at start and at stop.
	VIP       *vip.VIP
	Resources act.Resources // what a primary holds; its VIP is taken from VIP
	// Rejoin: a release stops the database and rejoins it in the
	// background (act.Config.Rejoin).
	Rejoin bool
	// LeaveTimeout bounds the release of a primary that stops.
	LeaveTimeout time.Duration
	// FilesSynced and OnRejoinFailed go to the act stage (act.Config):
	// the files' age in a takeover's timeline, and what follows a failed
	// rejoin. Either may be nil.
	FilesSynced    func() time.Time
	OnRejoinFailed func(error)
	// RejoinAdvice is act.Config.RejoinAdvice: what a failed rejoin's
	// event tells the operator to do ("": pbxha standby rebuild).
	RejoinAdvice string
	// TrackInterfaces are watched for carrier (failover.track_interfaces).
	TrackInterfaces []string
	// UnprotectedGrace and MaxClockOffset tune the pair_unprotected and
	// clock_offset alerts (0: the failover package's defaults).
	UnprotectedGrace, MaxClockOffset time.Duration
	// States, Checks and Maintenance read the node's probes and
	// maintenance mode (the agent); DB says a database is managed.
	States      func() []probe.CheckState
	Checks      func() []probe.Check
	Maintenance func() bool
	DB          bool
	OnEvent     func(event.Event) // must not block
	Logger      *slog.Logger
}

// Pair is one running pair side. Its methods may be called concurrently
// with Run.
type Pair struct {
	cfg  Config
	node *failover.Node
	tr   *failover.UDPTransport
	act  *act.Actuators
	tb   *act.TieBreaker
	log  *slog.Logger

	vipMu    sync.Mutex    // orders the stores of vipState (see vipstate.go)
	vipState atomic.Uint32 // failover.VIPState: from the VIP watcher, and the node's own adds and removals
	resumed  bool          // this process resumed as primary after a restart that kept the role
	keepRole atomic.Bool   // KeepRoleOnStop was called
	linkDown atomic.Value  // string, from the link watcher
}

// New opens the heartbeat sockets and builds the node; nothing runs until
// Run. On an error everything opened is closed again, cfg.VIP included.
func New(cfg Config) (_ *Pair, err error) {
	p := &Pair{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	cfg.OnEvent = logged(cfg.OnEvent, p.log)
	cfg.Resources.VIP, cfg.Resources.Witness = nil, nil
	if cfg.VIP != nil {
		cfg.Resources.VIP = trackedVIP{VIP: cfg.VIP, p: p}
		if cfg.Policy.Witness && cfg.VIP.CanWitness() {
			cfg.Resources.Witness = cfg.VIP
		}
	}
	cfg.Policy.Witness = cfg.Resources.Witness != nil
	p.linkDown.Store("")
	p.act = act.New(act.Config{
		Node: cfg.Node, VIPAddr: cfg.VIPAddr, PeerHost: cfg.Paths[0].Peer.Addr().String(),
		Rejoin: cfg.Rejoin, Logger: p.log, OnEvent: cfg.OnEvent,
		FilesSynced: cfg.FilesSynced, OnRejoinFailed: cfg.OnRejoinFailed, RejoinAdvice: cfg.RejoinAdvice,
	}, cfg.Resources)
	if p.tr, err = failover.ListenUDP(cfg.Paths, p.log); err != nil {
		return nil, err
	}
	p.tb = act.NewTieBreaker(cfg.TieBreakers, cfg.DeadAfter, nil)
	src := act.Sources{States: cfg.States, Checks: cfg.Checks, Maintenance: cfg.Maintenance,
		DB: cfg.DB, PBX: cfg.Resources.PBX, TieBreaker: p.tb,
		VIP:      func() failover.VIPState { return failover.VIPState(p.vipState.Load()) },
		LinkDown: func() string { return p.linkDown.Load().(string) }}
	p.resumed = p.takeResume()
	p.node, err = failover.NewNode(failover.NodeConfig{
		Cluster: cfg.Cluster, Node: cfg.Node, Keys: cfg.Keys, Policy: cfg.Policy,
		Interval: cfg.Interval, StateDir: cfg.StateDir, Transport: p.tr,
		Tracker:       failover.TrackerConfig{Paths: len(cfg.Paths), DeadAfter: cfg.DeadAfter},
		Local:         func() failover.LocalState { return src.Local(time.Now()) },
		AskTieBreaker: p.tb.Ask,
		Act:           p.act, OnEvent: cfg.OnEvent, Logger: p.log,
		// Stopping as primary hands everything over, the database
		// included.
		ReleaseOnStop: true, LeaveTimeout: cfg.LeaveTimeout,
		UnprotectedGrace: cfg.UnprotectedGrace, MaxClockOffset: cfg.MaxClockOffset,
		Resume: p.resumed,
		// The system clock, and the heartbeats put the loop's wake-up
		// off five times a second at rest.
		KernelTimer: true,
	})
	if err != nil {
		return nil, err
	}
	p.tb.Notify(p.node.Poke)
	return p, nil
}

// close releases what New opened.
func (p *Pair) close() {
	if p.tr != nil {
		p.tr.Close()
	}
	if p.cfg.VIP != nil {
		p.cfg.VIP.Close()
	}
}

// Poke asks for a decision now (the local health changed).
func (p *Pair) Poke() { p.node.Poke() }

// Run runs the pair until ctx is done. A standby must not hold the VIP, so
// the address is removed at start. A primary that stops releases
// everything (hooks, VIP, database) and tells the peer, which takes over at
// once; the VIP is removed again after, in case that release failed
// part-way. The PBX keeps running either way.
func (p *Pair) Run(ctx context.Context) {
	if v := p.cfg.VIP; v != nil && !p.resumed {
		if removed, err := v.EnsureAbsent(ctx); err != nil {
			p.log.Error("could not make sure this node does not hold the VIP at start-up", "err", err)
		} else if removed {
			p.log.Warn("removed the VIP left on this node; it starts as standby")
		}
	}
	go p.tb.Run(ctx)
	p.watch(ctx)
	if err := p.node.Run(ctx); err != nil {
		p.log.Error("failover node stopped", "err", err)
	}
	if v := p.cfg.VIP; v != nil && !p.keepRole.Load() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := v.Down(sctx); err != nil {
			p.log.Error("could not release the VIP at shutdown", "err", err)
		}
		cancel()
	}
	// A rejoin killed half-way could leave a half-rewound data directory:
	// let it end, within its own timeouts.
	_ = p.act.WaitRejoin(context.Background())
	p.close()
}

// watch starts the VIP and link watchers: the kernel's notifications reach
// the node at once (a Poke), not at its next decision.
func (p *Pair) watch(ctx context.Context) {
	if v := p.cfg.VIP; v != nil {
		go func() {
			err := v.Watch(ctx, func(held bool) {
				p.vipChanged(held)
				p.node.Poke()
			})
			if err != nil {
				p.log.Error("VIP watch stopped: the VIP is no longer tracked", "err", err)
				p.vipMu.Lock()
				p.vipState.Store(uint32(failover.VIPUntracked))
				p.vipMu.Unlock()
			}
		}()
	}
	if len(p.cfg.TrackInterfaces) > 0 {
		go func() {
			err := linkwatch.Watch(ctx, p.cfg.TrackInterfaces, func(down string) {
				if down != "" {
					p.log.Warn("tracked interface without carrier", "target", down)
				}
				p.linkDown.Store(down)
				p.node.Poke()
			})
			if err != nil {
				p.log.Error("link watch stopped: the tracked interfaces are no longer watched", "err", err)
				p.linkDown.Store("")
			}
		}()
	}
}

// SetKeys replaces the heartbeat keys (a SIGHUP that read the key files
// again).
func (p *Pair) SetKeys(k failover.Keys) error { return p.node.SetKeys(k) }

// Switchover runs a planned switchover asked for over the control API.
func (p *Pair) Switchover(ctx context.Context, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	sw := act.Switchover{Node: p.node, Calls: func() (int, bool) { return probe.ActiveCalls(p.cfg.States()) }}
	return sw.Run(ctx, to, drain, force)
}

// Status renders the pair for the control API: this node's role and the
// pair's state, with this node's database lag behind the peer's announced
// WAL position.
func (p *Pair) Status() (string, control.Pair) {
	ns := p.node.Status()
	out := control.Pair{Epoch: ns.Epoch, Reason: ns.Reason, LastError: ns.LastError, VIP: p.cfg.VIPAddr}
	if ns.StateDirError != "" {
		t := ns.StateDirSince
		out.StateDirError, out.StateDirSince = ns.StateDirError, &t
	}
	switch {
	case ns.Busy != failover.ActionNone:
		out.Acting = ns.Busy.String()
		t := ns.BusySince
		out.ActingSince = &t
	case ns.AuxBusy != failover.ActionNone:
		out.Acting = ns.AuxBusy.String()
		t := ns.AuxSince
		out.ActingSince = &t
	}
	out.Unprotected, out.UnprotectedCause = ns.Unprotected, ns.UnprotectedCause
	out.StepDownBudgetMS = ns.StepDownBudget.Milliseconds()
	if !ns.ConfirmedAt.IsZero() {
		t := ns.ConfirmedAt
		out.HeardByPeer = &t
	}
	if ns.Peer.Alive {
		out.ClockOffsetMS = float64(ns.Peer.ClockOffset) / float64(time.Millisecond)
	}
	if ns.Witness != failover.WitnessUnknown {
		out.Witness = ns.Witness.String()
	}
	pv := ns.Peer
	out.Peer = control.PeerState{Node: pv.Node, Alive: pv.Alive, Epoch: pv.Epoch}
	if pv.Heard {
		out.Peer.Role, out.Peer.Health = pv.Role.String(), pv.Health.String()
		t := pv.LastHeard
		out.Peer.LastHeard = &t
		if p.cfg.DB && pv.WAL != 0 {
			var local uint64
			rd, _, ok := probe.LastDB(p.cfg.Checks(), time.Now())
			if ok {
				local = rd.Position
			}
			out.Peer.WAL = probe.FormatDBPosition(rd.Kind, pv.WAL)
			if pv.WAL > local {
				out.Peer.LagBytes = pv.WAL - local
			}
		}
	}
	for i, path := range p.cfg.Paths {
		ps := control.PathState{Local: path.Local.String(), Peer: path.Peer.String()}
		if i < len(ns.Paths) {
			ps.Alive, ps.Accepted, ps.Drops = ns.Paths[i].Alive, ns.Paths[i].Accepted, ns.Paths[i].Drops
			if t := ns.Paths[i].LastHeard; !t.IsZero() {
				ps.LastHeard = &t
			}
		}
		out.Peer.Paths = append(out.Peer.Paths, ps)
	}
	for _, h := range ns.History {
		out.RoleHistory = append(out.RoleHistory, control.RoleHistory{At: h.At, From: h.From.String(), To: h.To.String(), Epoch: h.Epoch, Reason: h.Reason})
	}
	out.Nodes = p.nodes(ns, out.Peer.LagBytes, time.Now())
	return ns.Role.String(), out
}

// View is the pair as the node's other parts see it (file sync, the
// standby rebuild): this node's role and maintenance mode, the peer as its
// heartbeats tell it, and the peer's address on the first heartbeat path.
type View struct {
	Role        failover.Role
	Maintenance bool // on this node
	Peer        failover.PeerView
	PeerHost    string
}

// View returns the pair now. It does not block.
func (p *Pair) View() View {
	ns := p.node.Status()
	return View{Role: ns.Role, Maintenance: ns.Maintenance, Peer: ns.Peer, PeerHost: p.cfg.Paths[0].Peer.Addr().String()}
}

// Problem returns why this node cannot do its part of the pair though it
// runs (its state directory takes no epoch write), or nil: metrics'
// /healthz reports it.
func (p *Pair) Problem() error {
	if ns := p.node.Status(); ns.StateDirError != "" {
		return fmt.Errorf("state_dir unwritable since %s: %s", ns.StateDirSince.Format(time.RFC3339), ns.StateDirError)
	}
	return nil
}

// String names the pair for errors.
func (p *Pair) String() string { return fmt.Sprintf("pair %s/%s", p.cfg.Cluster, p.cfg.Node) }
