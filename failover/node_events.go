package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pbxha/pbxha/event"
)

func (n *Node) emit(e event.Event) {
	if n.cfg.OnEvent == nil {
		return
	}
	e.Node, e.Cluster = n.cfg.Node, n.cfg.Cluster
	n.cfg.OnEvent(e)
}

// roleChange records and announces a role change.
func (n *Node) roleChange(now time.Time, from, to Role, epoch uint64, reason string) {
	n.mu.Lock()
	n.st.History = append(n.st.History, RoleChange{At: now, From: from, To: to, Epoch: epoch, Reason: reason})
	if len(n.st.History) > historySize {
		n.st.History = n.st.History[len(n.st.History)-historySize:]
	}
	n.mu.Unlock()
	sev, level := event.Info, slog.LevelInfo
	switch {
	case to == RoleFault:
		sev, level = event.Critical, slog.LevelError
	case to == RolePrimary || from == RolePrimary:
		sev, level = event.Warning, slog.LevelWarn
	}
	n.log.Log(context.Background(), level, "role changed", "role", to, "from", from, "epoch", epoch, "reason", reason)
	n.emit(event.Event{Kind: event.RoleChange, Severity: sev, Time: now,
		Summary: fmt.Sprintf("%s: %s → %s at epoch %d: %s", n.cfg.Node, from, to, epoch, reason),
		Details: map[string]any{"from": from.String(), "to": to.String(), "epoch": epoch, "reason": reason}})
}

// takeoverEvent raises failover, or switchover when a request for this node
// was in force.
func (n *Node) takeoverEvent(tl Timeline, epoch uint64, view PeerView, req SwitchoverRequest, reason string) {
	kind, sev := event.Failover, event.Critical
	if epoch == 1 {
		sev = event.Info // the pair's first primary
	}
	peerReq := view.Alive && view.Switchover.Active() && (view.Switchover.Target == n.cfg.Node || view.Switchover.Target == "")
	if (req.Active() && req.Target == n.cfg.Node) || peerReq {
		kind, sev = event.Switchover, event.Info
	}
	details := tl.Details()
	details["epoch"], details["reason"] = epoch, reason
	n.emit(event.Event{Kind: kind, Severity: sev, Time: tl.Ready,
		Summary: fmt.Sprintf("%s took over at epoch %d in %s: %s", n.cfg.Node, epoch, tl.Since(tl.Ready).Round(time.Millisecond), reason),
		Details: details})
}

// actionFailed handles a failed action: it logs the error, schedules the
// retry, raises action_failed once per run of failures, and returns the
// line for Status.
func (n *Node) actionFailed(now time.Time, j *job) string {
	ls := &n.loopPrivate
	d, err := j.d, j.err
	if d.Action != ActionRestartPBX { // a restart's hold began when it started
		ls.retryAt[d.Action] = now.Add(n.cfg.RetryDelay)
	}
	if errors.Is(err, ErrOvertaken) {
		// Nothing was done and nothing failed: the peer is primary now.
		n.log.Warn("takeover not started: a live primary was heard while it waited", "role", j.role, "action", d.Action, "err", err)
		return err.Error()
	}
	n.log.Error("action failed", "role", j.role, "action", d.Action, "reason", d.Reason, "err", err)
	msg := fmt.Sprintf("%s: %v", d.Action, err)
	if j.undoErr != nil {
		n.log.Error("undoing a failed take over", "role", j.role, "action", ActionRelease, "err", j.undoErr)
		msg += fmt.Sprintf("; undo: %v", j.undoErr)
	}
	if _, already := ls.failing[d.Action]; !already {
		// Once per run of failures: a fence retried every RetryDelay must
		// not page the operator every time.
		sev := event.Critical
		if d.Action == ActionRestartPBX {
			sev = event.Warning // the supervisor raises its own events
		}
		n.emit(event.Event{Kind: event.ActionFailed, Severity: sev, Time: now,
			Summary: fmt.Sprintf("%s: %s failed, retrying every %s: %v", n.cfg.Node, d.Action, n.cfg.RetryDelay, err),
			Details: map[string]any{"action": d.Action.String(), "error": err.Error(), "reason": d.Reason}})
	}
	ls.failing[d.Action] = err.Error()
	return msg
}

// actionWorked resolves the action_failed raised for a, if any.
func (n *Node) actionWorked(now time.Time, a Action) {
	ls := &n.loopPrivate
	errText, was := ls.failing[a]
	if !was {
		return
	}
	delete(ls.failing, a)
	n.emit(event.Event{Kind: event.ActionFailed, Severity: event.Info, Time: now, Resolved: true,
		Summary: fmt.Sprintf("%s: %s worked again", n.cfg.Node, a),
		Details: map[string]any{"action": a.String(), "error": errText}})
}

// splitBrain raises split_brain when Decide flags it, at most once per
// splitBrainRepeat while it lasts.
func (n *Node) splitBrain(now time.Time, d Decision) {
	ls := &n.loopPrivate
	if d.Alert != event.SplitBrain {
		ls.splitAt = time.Time{}
		return
	}
	if !ls.splitAt.IsZero() && now.Sub(ls.splitAt) < splitBrainRepeat {
		return
	}
	ls.splitAt = now
	n.log.Warn("split brain", "action", d.Action, "reason", d.Reason)
	n.emit(event.Event{Kind: event.SplitBrain, Severity: event.Critical, Time: now,
		Summary: fmt.Sprintf("%s: two primaries met: %s", n.cfg.Node, d.Reason),
		Details: map[string]any{"action": d.Action.String(), "reason": d.Reason}})
}

// pathEvents raises peer_path_lost when a path that carried heartbeats goes
// silent, and the same kind, resolved, when it carries them again.
func (n *Node) pathEvents(now time.Time) {
	ls := &n.loopPrivate
	ps := n.tracker.Paths(now)
	if ls.paths == nil {
		ls.paths, ls.pathLost = make([]bool, len(ps)), make([]bool, len(ps))
	}
	for i, p := range ps {
		was := ls.paths[i]
		ls.paths[i] = p.Alive
		switch {
		case was && !p.Alive:
			ls.pathLost[i] = true
			n.log.Warn("heartbeat path lost", "path", i, "last_heard", p.LastHeard)
			n.emit(event.Event{Kind: event.PeerPathLost, Severity: event.Warning, Time: now,
				Summary: fmt.Sprintf("%s: heartbeat path %d silent since %s", n.cfg.Node, i, stamp(p.LastHeard)),
				Details: map[string]any{"path": i, "last_heard": stamp(p.LastHeard)}})
		case !was && p.Alive && ls.pathLost[i]:
			ls.pathLost[i] = false
			n.log.Info("heartbeat path restored", "path", i)
			n.emit(event.Event{Kind: event.PeerPathLost, Severity: event.Info, Time: now, Resolved: true,
				Summary: fmt.Sprintf("%s: heartbeat path %d restored", n.cfg.Node, i),
				Details: map[string]any{"path": i}})
		}
	}
}
