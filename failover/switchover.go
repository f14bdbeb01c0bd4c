package failover

import (
	"cmp"
	"fmt"
	"time"
)

// RequestSwitchover asks for a planned move of the primary role to target
// (this node or the peer; "" means the node that is not primary now) and
// returns the request's id. force promotes past max_lag_bytes. The request
// replaces any earlier one, travels in this node's heartbeats, and ends when
// target is primary or after NodeConfig.SwitchoverTimeout (see Status). The
// caller checks that target names a node of the pair.
func (n *Node) RequestSwitchover(target string, force bool) uint64 {
	now := n.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if target == "" {
		// Fix the target now, so that the request does not follow the role.
		target = n.cfg.Node
		if n.st.Role == RolePrimary {
			target = n.tracker.View(now).Node // "" if the peer was never heard
		}
	}
	id := max(uint64(now.UnixNano()), n.lastReqID+1)
	n.lastReqID = id
	n.request = SwitchoverState{Request: SwitchoverRequest{Target: target, ID: id, Force: force}, Since: now, Outcome: "pending",
		Steps: []Step{{At: now, Node: n.cfg.Node, What: fmt.Sprintf("switchover to %s requested", cmp.Or(target, "the peer"))}}}
	n.hb.Switchover = n.request.Request
	n.log.Info("switchover requested", "target", target, "id", id, "force", force)
	return id
}

// EndSwitchover ends the switchover request id as "timed out" if it is
// still pending, and reports whether it did: the caller stopped waiting, and
// a request nobody waits for must not move the service later. The request
// leaves the heartbeats; a release already under way completes.
func (n *Node) EndSwitchover(id uint64) bool {
	now := n.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := &n.request
	if r.Request.ID != id || r.Outcome != "pending" {
		return false
	}
	n.stepLocked(Step{At: now, Node: n.cfg.Node, What: "switchover timed out"})
	r.Outcome = "timed out"
	n.hb.Switchover = SwitchoverRequest{}
	n.log.Warn("switchover timed out", "target", r.Request.Target, "id", id, "reason", "the caller stopped waiting")
	return true
}

// expireRequest ends the local switchover request once its target is
// primary, or after SwitchoverTimeout. n.mu is held.
func (n *Node) expireRequest(now time.Time, view PeerView) {
	r := &n.request
	if r.Outcome != "pending" {
		return
	}
	t := r.Request.Target
	switch {
	case t == n.cfg.Node && n.st.Role == RolePrimary,
		t != n.cfg.Node && t == view.Node && view.Alive && view.Role == RolePrimary,
		t == "" && n.st.Role != RolePrimary && view.Alive && view.Role == RolePrimary:
		n.stepLocked(Step{At: now, Node: n.cfg.Node, What: "switchover done"})
		r.Outcome = "done"
		n.log.Info("switchover done", "target", t, "id", r.Request.ID)
	case now.Sub(r.Since) >= n.cfg.SwitchoverTimeout:
		r.Outcome = "timed out"
		n.log.Warn("switchover timed out", "target", t, "id", r.Request.ID, "timeout", n.cfg.SwitchoverTimeout)
	}
}

// peerSeen names the peer's state for the switchover timeline: its role
// while it is heard, "silent" otherwise.
func peerSeen(v PeerView) string {
	if !v.Alive {
		return "silent"
	}
	return v.Role.String()
}

// steps adds steps to the pending switchover's timeline.
func (n *Node) steps(ss []Step) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range ss {
		n.stepLocked(s)
	}
}

// stepLocked adds a step to the pending switchover's timeline, if one is
// pending. n.mu is held.
func (n *Node) stepLocked(s Step) {
	if n.request.Outcome == "pending" && len(n.request.Steps) < maxSteps {
		n.request.Steps = append(n.request.Steps, s)
	}
}
