package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/supervisor"
	"github.com/pbxha/pbxha/vip"
)

// actuators carries out the node's decisions, in the order DESIGN gives:
// take over the database, then the VIP, then the PBX, then the hooks;
// release in reverse.
type actuators struct {
	vip      *vip.VIP
	sup      *supervisor.Supervisor
	db       *dbrole.Mover
	rejoin   *dbRejoin // with both stop_command and demote_command; nil otherwise
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

// TakeOver waits for a database rejoin still running from the last release
// (dbRejoin), promotes the database (refused beyond max_lag_bytes behind the
// peer's last announced WAL position, unless a forced switchover asks for
// it), adds and announces the VIP, makes sure the PBX runs, sends the
// pbx.takeover_esl commands (best effort: their failure is alerted, and the
// takeover goes on), then runs the takeover hooks (the first failure fails
// the takeover, which the node undoes with Release and retries).
func (a *actuators) TakeOver(ctx context.Context, epoch uint64, reason string) (failover.Timeline, error) {
	var tl failover.Timeline // the node sets Detected and Decided
	if a.rejoin != nil {
		// The last release's rejoin still owns the database.
		if err := a.rejoin.wait(ctx); err != nil {
			return tl, fmt.Errorf("promote the database: %w", err)
		}
	}
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
// must never coexist); the PBX keeps running as a hot standby. With both
// stop_command and demote_command, the database is only stopped before
// Release returns — the peer may promote once it no longer takes writes —
// and the demote command makes it a standby of the new primary in the
// background (dbRejoin); the timeline's DBDemoted is then the stop.
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
		if err := a.releaseDB(ctx); err != nil {
			return tl, err
		}
		tl.DBDemoted = time.Now()
	}
	return tl, nil
}

// releaseDB makes sure the database no longer takes writes: stopped, with
// the rejoin started in the background, when a.rejoin is set; else demoted
// (or stopped) before it returns.
func (a *actuators) releaseDB(ctx context.Context) error {
	args := dbrole.DemoteArgs{Node: a.node, PeerHost: a.peerHost}
	if a.rejoin == nil {
		if _, err := a.db.Demote(ctx, args); err != nil {
			return fmt.Errorf("demote the database: %w", err)
		}
		return nil
	}
	// Never two rejoins at once: a release after a failed takeover may
	// follow the last one closely.
	if err := a.rejoin.wait(ctx); err != nil {
		return fmt.Errorf("demote the database: %w", err)
	}
	res, err := a.db.Stop(ctx, args)
	if err != nil {
		// The stop command failed: the demote command, then the stop
		// command again, as without a stop-first release.
		a.pair.log.Warn("database stop failed; demoting it instead", "action", "stop", "err", err)
		if _, err := a.db.Demote(ctx, args); err != nil {
			return fmt.Errorf("demote the database: %w", err)
		}
		return nil
	}
	if res.Changed {
		// Stopped by this release: rejoin it as a standby of the peer,
		// which promotes meanwhile.
		a.rejoin.start(args, time.Now())
	}
	return nil
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
