package act

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/clock"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/vip"
)

// Config is what the act stage needs to know about the node.
type Config struct {
	Node     string // this node's name
	VIPAddr  string // the VIP, for the hooks' environment ("" without one)
	PeerHost string // the peer's address on the first heartbeat path: the demote and fence commands' PBXHA_PEER_HOST
	// Rejoin: a release only stops the database (the peer may promote once
	// it no longer takes writes) and makes it a standby of the new primary
	// in the background (database.stop_command and demote_command both
	// set). Otherwise a release demotes it before it returns.
	Rejoin  bool
	Clock   clock.Clock       // clock.Real when nil; stamps the timelines
	Logger  *slog.Logger      // slog.Default() when nil
	OnEvent func(event.Event) // db_rejoin_failed; must not block; may be nil

	// FilesSynced, when set, tells when the files (package filesync) were
	// last synced complete from the old primary; a takeover records it in
	// its timeline (files_age_ms). It must not block.
	FilesSynced func() time.Time
	// OnRejoinFailed, when set, is called after a background rejoin failed
	// (database.rebuild_on_rewind_failure: a standby rebuild starts). It
	// must not block.
	OnRejoinFailed func(err error)
	// RejoinAdvice is what db_rejoin_failed's summary tells the operator
	// to do when OnRejoinFailed is nil; "" means run pbxha standby rebuild
	// on this node (PostgreSQL). MariaDB and MySQL have no standby rebuild.
	RejoinAdvice string
	// DBFirst: a release stops the database before it removes the VIP,
	// for standbys that stream from the primary through the VIP (with
	// coordination etcd no node knows the next leader's own address). In
	// the other order the old primary's fast shutdown waits for its WAL
	// senders, whose connections died with the address.
	DBFirst bool
}

// Actuators carry out the failover node's decisions over Resources; they
// implement failover.Actuators, whose contract (one call at a time, a
// failed takeover undone by Release) they rely on.
type Actuators struct {
	cfg    Config
	r      Resources
	log    *slog.Logger
	rejoin *rejoin // nil unless Config.Rejoin and a database

	bgMu sync.Mutex
	bg   chan struct{} // closed when a step-down's database release, left to run on, has ended; nil when none ran
}

var _ failover.Actuators = (*Actuators)(nil)

// New returns the actuators for r.
func New(cfg Config, r Resources) *Actuators {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Actuators{cfg: cfg, r: r, log: cfg.Logger}
	if cfg.Rejoin && r.DB != nil {
		advice := cmp.Or(cfg.RejoinAdvice, "run pbxha standby rebuild on "+cfg.Node)
		a.rejoin = &rejoin{db: r.DB, node: cfg.Node, clock: cfg.Clock, log: cfg.Logger, emit: cfg.OnEvent, onFailed: cfg.OnRejoinFailed, advice: advice}
	}
	return a
}

// vars is the event the hook and fence commands see in their environment.
func (a *Actuators) vars(ev, role string, m failover.Move) hooks.Vars {
	return hooks.Vars{Event: ev, Node: a.cfg.Node, Peer: m.Peer, PeerHost: a.cfg.PeerHost, Role: role,
		Epoch: m.Epoch, VIP: a.cfg.VIPAddr, Reason: m.Reason}
}

// demoteArgs describes a release to the database's commands.
func (a *Actuators) demoteArgs() dbrole.DemoteArgs {
	return dbrole.DemoteArgs{Node: a.cfg.Node, PeerHost: a.cfg.PeerHost}
}

// TakeOver acquires the resources in order and returns each step's time:
//
//  1. the database: wait for a rejoin still running from the last release,
//     then promote — refused beyond max_lag_bytes behind the peer's last
//     announced WAL position unless m.Force;
//  2. the VIP: added and announced (an announcement that failed is
//     tolerated: it is repeated);
//  3. the PBX: started unless it runs;
//  4. the takeover commands (pbx.takeover_esl), best effort;
//  5. the takeover hooks, stopping at the first failure.
//
// The first step that fails ends the takeover with an error naming it; the
// steps before it stay done. The failover node then undoes them with a
// whole Release (hooks, VIP, database: a promoted database is demoted or
// stopped, so that no writable database stays behind without the VIP) and
// tries again after its retry delay at a higher epoch.
func (a *Actuators) TakeOver(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	var tl failover.Timeline // the node sets Detected and Decided
	now := a.cfg.Clock.Now
	if a.cfg.FilesSynced != nil {
		// How old the files are that this node serves from now on.
		tl.FilesSynced = a.cfg.FilesSynced()
	}
	if a.r.DB != nil {
		if err := a.waitRejoin(ctx); err != nil {
			return tl, fmt.Errorf("promote the database: %w", err)
		}
		if m.Still != nil {
			// The rejoin may have held this takeover up for a while.
			if err := m.Still(); err != nil {
				return tl, err
			}
		}
		if _, err := a.r.DB.Promote(ctx, probe.LSN(m.PeerWAL), m.Force); err != nil {
			return tl, fmt.Errorf("promote the database: %w", err)
		}
		tl.DBPromoted = now()
	}
	if a.r.VIP != nil {
		if err := a.r.VIP.Up(ctx); err != nil && !errors.Is(err, vip.ErrAnnounce) {
			return tl, err
		}
		tl.VIPUp = now()
	}
	if a.r.PBX != nil {
		if err := a.r.PBX.EnsureRunning(ctx); err != nil {
			return tl, fmt.Errorf("start the PBX: %w", err)
		}
	}
	if a.r.Commands != nil {
		a.r.Commands.Send(ctx, m.Epoch)
	}
	if a.r.Hooks != nil {
		if err := a.r.Hooks.Takeover(ctx, a.vars("takeover", "primary", m)); err != nil {
			return tl, fmt.Errorf("takeover hooks: %w", err)
		}
	}
	tl.Ready = now()
	return tl, nil
}

// Release gives the resources up in reverse order and returns each step's
// time: the release hooks (all run; their failures are logged and keep
// nothing here), the VIP removed, then the database made to stop taking
// writes — demoted, or stopped when it cannot be demoted: two writable
// primaries must never coexist. The PBX keeps running as a hot standby.
//
// With Config.Rejoin the database is only stopped before Release returns
// (the peer may promote once it no longer takes writes) and the demote
// command makes it a standby of the new primary in the background; the
// timeline's DBDemoted is then the stop. With Config.DBFirst the database
// step comes before the VIP's. A VIP or database step that fails ends the
// release with its error, and the node stays primary and retries.
func (a *Actuators) Release(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	var tl failover.Timeline
	now := a.cfg.Clock.Now
	if a.r.Hooks != nil {
		if err := a.r.Hooks.Release(ctx, a.vars("release", "standby", m)); err != nil {
			a.log.Error("release hooks failed", "action", failover.ActionRelease, "err", err)
		}
		tl.HooksRan = now()
	}
	vipDown := func() error {
		if a.r.VIP != nil {
			if err := a.r.VIP.Down(ctx); err != nil {
				return err
			}
			tl.VIPDown = now()
		}
		return nil
	}
	if !a.cfg.DBFirst {
		if err := vipDown(); err != nil {
			return tl, err
		}
	}
	if a.r.DB != nil {
		if err := a.releaseDB(ctx); err != nil {
			return tl, err
		}
		tl.DBDemoted = now()
	}
	if a.cfg.DBFirst {
		if err := vipDown(); err != nil {
			return tl, err
		}
	}
	return tl, nil
}

// releaseDB makes sure the database no longer takes writes: stopped, with
// the rejoin started in the background, with Config.Rejoin; else demoted
// (or stopped) before it returns. It first waits for a step-down's release
// still running in the background.
func (a *Actuators) releaseDB(ctx context.Context) error {
	if err := a.waitBackground(ctx); err != nil {
		return fmt.Errorf("demote the database: %w", err)
	}
	return a.releaseDBNow(ctx)
}

// releaseDBNow is releaseDB without the wait.
func (a *Actuators) releaseDBNow(ctx context.Context) error {
	args := a.demoteArgs()
	if a.rejoin == nil {
		if _, err := a.r.DB.Demote(ctx, args); err != nil {
			return fmt.Errorf("demote the database: %w", err)
		}
		return nil
	}
	// Never two rejoins at once: a release after a failed takeover may
	// follow the last one closely.
	if err := a.rejoin.wait(ctx); err != nil {
		return fmt.Errorf("demote the database: %w", err)
	}
	res, err := a.r.DB.Stop(ctx, args)
	if err != nil {
		// The stop command failed: the demote command, then the stop
		// command again, as without a stop-first release.
		a.log.Warn("database stop failed; demoting it instead", "action", "stop", "target", a.r.DB.Target(), "err", err)
		if _, err := a.r.DB.Demote(ctx, args); err != nil {
			return fmt.Errorf("demote the database: %w", err)
		}
		return nil
	}
	if res.Changed || res.Before == dbrole.RoleStopped {
		// Stopped by this release — or found stopped: a primary whose
		// database went down (the failure this release may be for) —
		// rejoin it as a standby of the peer, which promotes meanwhile.
		a.rejoin.start(args)
	}
	return nil
}

// writesPoll is how often a step-down asks the database whether it still
// takes writes while its stop runs; writesAsk bounds one question.
const (
	writesPoll = 20 * time.Millisecond
	writesAsk  = 500 * time.Millisecond
)

// endWrites ends the database's writes for a step-down. It runs releaseDB
// and returns its outcome — or returns earlier, once the server, seen as a
// writable primary before the release began, refuses new sessions, is
// stopped or is a standby. A fast shutdown ends every session and refuses
// new ones at once, but the server exits only when each connected
// streaming standby has confirmed the last WAL: when that standby is cut
// off, as an isolated primary's is, it waits up to wal_sender_timeout (60s
// by default), and the VIP, the peer's witness and the step-down budget
// the peer counts on would wait with it. The release then goes on in the
// background (its failure is logged and raised as db_rejoin_failed: the
// database stays out of replication); the next database move waits for it.
// A server never seen writable (one already stopping or starting) gets no
// early end: the step-down waits for the whole release.
func (a *Actuators) endWrites(ctx context.Context) error {
	if err := a.waitBackground(ctx); err != nil {
		return fmt.Errorf("demote the database: %w", err)
	}
	ask := func() (dbrole.Role, error) {
		actx, cancel := context.WithTimeout(ctx, writesAsk)
		defer cancel()
		return a.r.DB.Role(actx)
	}
	role, err := ask()
	seenWritable := err == nil && role == dbrole.RolePrimary
	done := make(chan error, 1)
	bg := make(chan struct{})
	a.bgMu.Lock()
	a.bg = bg
	a.bgMu.Unlock()
	go func() {
		defer close(bg)
		done <- a.releaseDBNow(ctx)
	}()
	poll := a.cfg.Clock.NewTimer(writesPoll)
	defer poll.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-poll.C():
		}
		role, err := ask()
		if seenWritable && (role == dbrole.RoleStopped || role == dbrole.RoleStandby || errors.Is(err, dbrole.ErrRefusing)) {
			a.log.Info("the database no longer takes writes; its stop goes on in the background",
				"action", failover.ActionStepDown, "target", a.r.DB.Target(), "role", role.String())
			go a.releasedInBackground(done)
			return nil
		}
		poll.Reset(writesPoll)
	}
}

// releasedInBackground takes the outcome of a step-down's database release
// that endWrites left to run on.
func (a *Actuators) releasedInBackground(done <-chan error) {
	err := <-done
	if err == nil {
		a.log.Info("the step-down's database release ended", "action", failover.ActionStepDown, "target", a.r.DB.Target())
		return
	}
	a.log.Error("the step-down's database release failed after the database had stopped taking writes: it stays out of replication until an operator rejoins it",
		"action", failover.ActionStepDown, "target", a.r.DB.Target(), "err", err)
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(event.Event{Kind: event.DBRejoinFailed, Severity: event.Critical, Time: a.cfg.Clock.Now(),
			Summary: fmt.Sprintf("%s: the stepped-down database's release failed in the background: %v", a.cfg.Node, err),
			Details: map[string]any{"target": a.r.DB.Target(), "peer_host": a.cfg.PeerHost, "error": err.Error(), "step": "step_down"}})
	}
}

// waitBackground returns when no step-down's database release runs in the
// background, or with ctx's error.
func (a *Actuators) waitBackground(ctx context.Context) error {
	a.bgMu.Lock()
	bg := a.bg
	a.bgMu.Unlock()
	if bg == nil {
		return nil
	}
	select {
	case <-bg:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the last step-down's database release: %w", ctx.Err())
	}
}

// waitRejoin returns when no database release of a step-down runs in the
// background and no rejoin runs, or with ctx's error.
func (a *Actuators) waitRejoin(ctx context.Context) error {
	if err := a.waitBackground(ctx); err != nil {
		return err
	}
	if a.rejoin == nil {
		return nil
	}
	return a.rejoin.wait(ctx)
}

// WaitRejoin returns when no database rejoin runs, or with ctx's error
// when ctx ends first. The daemon waits at shutdown: a rejoin killed
// half-way could leave a half-rewound data directory.
func (a *Actuators) WaitRejoin(ctx context.Context) error { return a.waitRejoin(ctx) }

// RestartPBX restarts the PBX.
func (a *Actuators) RestartPBX(ctx context.Context) error {
	if a.r.PBX == nil {
		return errors.New("act: restart the PBX: it is not supervised (pbx.supervise.mode none)")
	}
	return a.r.PBX.Restart(ctx)
}

// Fence runs the fence command against the silent peer with the event in
// its environment (PBXHA_EVENT=fence, PBXHA_PEER, PBXHA_PEER_HOST...).
// Success means the peer is fenced; an error means it may still serve, and
// the node does not take over.
func (a *Actuators) Fence(ctx context.Context, m failover.Move) error {
	if a.r.Fence == nil {
		return errors.New("act: fence: no failover.fence_command configured")
	}
	if err := a.r.Fence.Fence(ctx, a.vars("fence", "", m)); err != nil {
		return fmt.Errorf("fence %s (%s): %w", cmp.Or(m.Peer, "the peer"), a.cfg.PeerHost, err)
	}
	a.log.Info("peer fenced", "action", failover.ActionFencePeer, "target", a.cfg.PeerHost, "peer", m.Peer)
	return nil
}

// StepDown gives the resources up in the order that ends writes first, for
// a primary that may be cut off and whose peer may promote soon: the
// database stops taking writes (stopped, and rejoined as a standby in the
// background, with Config.Rejoin; else demoted), then the VIP is removed,
// then the release hooks run. The PBX keeps running. A database or VIP step
// that fails ends it with the error; the node stays primary and retries.
//
// The database step ends as soon as the server no longer takes writes,
// which may be before its stop or demote command has ended (see endWrites).
func (a *Actuators) StepDown(ctx context.Context, m failover.Move) (failover.Timeline, error) {
	var tl failover.Timeline
	now := a.cfg.Clock.Now
	if a.r.DB != nil {
		if err := a.endWrites(ctx); err != nil {
			return tl, err
		}
		tl.DBDemoted = now()
	}
	if a.r.VIP != nil {
		if err := a.r.VIP.Down(ctx); err != nil {
			return tl, err
		}
		tl.VIPDown = now()
	}
	if a.r.Hooks != nil {
		if err := a.r.Hooks.Release(ctx, a.vars("release", "standby", m)); err != nil {
			a.log.Error("release hooks failed", "action", failover.ActionStepDown, "err", err)
		}
		tl.HooksRan = now()
	}
	return tl, nil
}

// RestoreVIP adds and announces the VIP again after it left the primary's
// interface (an announcement that fails is tolerated: it is repeated).
func (a *Actuators) RestoreVIP(ctx context.Context) error {
	if a.r.VIP == nil {
		return nil
	}
	if err := a.r.VIP.Up(ctx); err != nil && !errors.Is(err, vip.ErrAnnounce) {
		return err
	}
	return nil
}

// DropVIP removes a VIP found on a node that is not primary.
func (a *Actuators) DropVIP(ctx context.Context) error {
	if a.r.VIP == nil {
		return nil
	}
	return a.r.VIP.Down(ctx)
}

// witnessWithin bounds one witness: ARP answers on a LAN take well under a
// millisecond; a node that is gone answers never.
const witnessWithin = 60 * time.Millisecond

// Witness asks whether another node answers on the VIP.
func (a *Actuators) Witness(ctx context.Context) (failover.WitnessState, string, error) {
	if a.r.Witness == nil {
		return failover.WitnessAbsent, "no witness", nil
	}
	held, who, err := a.r.Witness.Witness(ctx, witnessWithin)
	switch {
	case err != nil:
		return failover.WitnessUnknown, "", err
	case held:
		return failover.WitnessHeld, who, nil
	}
	return failover.WitnessAbsent, "", nil
}

// ReAnnounce repeats the VIP's gratuitous ARP / neighbour advertisement.
func (a *Actuators) ReAnnounce(ctx context.Context) error {
	if a.r.VIP == nil {
		return nil
	}
	return a.r.VIP.Announce(ctx)
}
