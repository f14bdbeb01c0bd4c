package failover

import (
	"context"
	"time"

	"github.com/pbxha/pbxha/internal/clock"
)

// receive feeds every received packet to the tracker, stamped on arrival.
func (n *Node) receive(ctx context.Context, closed chan<- struct{}) {
	rx := n.cfg.Transport.Recv()
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-rx:
			if !ok {
				close(closed)
				return
			}
			now := n.clock.Now()
			hb, fresh, changed, err := n.tracker.receive(p.Path, p.Data, now)
			if err != nil {
				n.log.Debug("heartbeat dropped", "path", p.Path, "reason", DropReason(err), "err", err)
				continue
			}
			if changed || n.unacked(hb, now) {
				n.Poke() // the peer's news (a release, a role) is acted on at once
			} else if fresh {
				n.fresh.Add(1)
				n.pushBack(now) // only its times: a wake-up it makes needless is put off
			}
			if fresh && hb.Role == RolePrimary {
				n.answerPrimary()
			}
		}
	}
}

// unacked reports whether heartbeat hb, which arrived at now, says the peer
// has not heard this node lately: it names no heartbeat of this boot, or
// one sent 1.5 intervals or more before hb arrived (the peer answers
// within about one interval while it hears this node). Decide's one-way
// rules (Policy.OneWayAfter, and a standby's "does not hear this node")
// count from that gap, which only heartbeats move, so such a heartbeat is
// decided on; any other that changes nothing (see PeerTracker.receive)
// only puts off deadlines, and the loop sleeps on.
func (n *Node) unacked(hb Heartbeat, now time.Time) bool {
	if hb.Version < 2 {
		return false // its ConfirmedAt is its arrival
	}
	if hb.HeardBoot != n.boot {
		return true
	}
	n.mu.Lock()
	at, ok := n.sentAtLocked(hb.HeardSeq)
	n.mu.Unlock()
	return !ok || now.Sub(at) >= n.cfg.Interval+n.cfg.Interval/2
}

// answerPrimary asks the sender to answer the primary's heartbeat that
// just arrived, when this node is not primary itself.
func (n *Node) answerPrimary() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Role == RolePrimary {
		return // two primaries answering each other would ping-pong
	}
	select {
	case n.answer <- struct{}{}:
	default:
	}
}

// send writes a heartbeat every Interval, on the wall clock's grid of the
// interval (clock.Grid: where this node's probe checks of the same
// interval fall too, and the peer's heartbeats when the clocks agree),
// and at once when the loop asks (after a role change), whether or not an
// action runs. A node that is not primary answers each of its primary's
// heartbeats at once instead (answerPrimary), at most one a quarter
// interval, and on its own only when the primary's next is a grid point
// late: the primary then learns within a network round trip that its
// peer hears it, and its ConfirmedAt is never much more than an interval
// old at rest, well inside isolation_after, so that it need not ask its
// tie-breaker to stay primary.
func (n *Node) send(ctx context.Context) {
	t := n.clock.NewTimer(n.untilGrid(0))
	defer t.Stop()
	var answered time.Time // the last answer to the primary
	for {
		n.sendHeartbeat()
		wait, answer, ok := n.nextSend(ctx, t, answered)
		if !ok {
			return
		}
		if answer {
			answered = n.clock.Now()
		}
		t.Reset(wait)
	}
}

// nextSend waits for the next heartbeat's turn and returns the wait after
// it, and whether it answers the primary (the last answer was at
// answered); false once ctx is done.
func (n *Node) nextSend(ctx context.Context, t clock.Timer, answered time.Time) (wait time.Duration, answer, ok bool) {
	for {
		select {
		case <-ctx.Done():
			return 0, false, false
		case <-t.C():
			return n.untilGrid(0), false, true
		case <-n.wake:
			return n.untilGrid(0), false, true
		case <-n.answer:
			// At most one answer a quarter interval: a burst of the
			// primary's (its last heartbeats when it stops) is answered
			// once. The next on its own is due a grid point after the
			// primary's next: its timer, put off by each answer, then
			// stays on the grid (a timer put off still wakes the runtime
			// at the time it was set for).
			if n.clock.Now().Sub(answered) >= n.cfg.Interval/4 {
				return n.untilGrid(n.cfg.Interval), true, true
			}
		}
	}
}

// untilGrid returns how long from now to the first point of the
// heartbeat interval's grid (clock.Grid) that is more than after from now.
func (n *Node) untilGrid(after time.Duration) time.Duration {
	now := n.clock.Now()
	return clock.Grid(now.Add(after), n.cfg.Interval).Sub(now)
}

// sentRingSize is how many sent heartbeats the node remembers the send
// time of, to tell when the peer last heard it: 12.8 s at the default
// interval, far beyond any deadline that depends on it.
const sentRingSize = 64

// sentRecord is one sent heartbeat.
type sentRecord struct {
	seq uint64
	at  time.Time
}

// sentAtLocked returns when heartbeat seq of this boot was sent, if it is
// still remembered. n.mu is held.
func (n *Node) sentAtLocked(seq uint64) (time.Time, bool) {
	r := n.sentRing[seq%sentRingSize]
	return r.at, r.seq == seq && seq != 0
}

// sendHeartbeat sends the current heartbeat once on every path, in the
// format the peer writes (so a peer still on format 1 reads it), with what
// this node last heard of the peer.
func (n *Node) sendHeartbeat() {
	now := n.clock.Now()
	view := n.tracker.View(now)
	n.mu.Lock()
	n.seq++
	hb := n.hb
	hb.Seq, hb.Sent = n.seq, now
	n.sentRing[n.seq%sentRingSize] = sentRecord{seq: n.seq, at: now}
	n.mu.Unlock()
	if view.Heard {
		hb.HeardBoot, hb.HeardSeq = view.Boot, view.Seq
		if view.Version < Version {
			hb.Version = max(view.Version, MinVersion)
		}
	}
	n.sendMu.Lock()
	b, err := AppendEncode(n.sendBuf[:0], n.keys().Current, hb)
	if err == nil {
		n.sendBuf = b
		err = n.cfg.Transport.Send(b)
	}
	n.sendMu.Unlock()
	if err != nil {
		n.mu.Lock()
		n.sendErrors++
		n.mu.Unlock()
		n.log.Debug("heartbeat send failed", "err", err)
	}
}

// leave hands the service over when the node stops as primary: it releases
// (hooks, VIP, database — a database left primary behind a stopped pbxha
// would be a second writable primary once the peer promotes its own) and
// says so in a last heartbeat, sent a few times, so that the peer takes
// over at once as from any released node — without waiting out dead_after
// and without fencing a node that is merely stopping. A release that fails
// leaves the node silent and primary; the peer then sees it dead. The
// caller has waited for any action under way.
func (n *Node) leave() {
	n.mu.Lock()
	role, epoch := n.st.Role, n.st.Epoch
	n.mu.Unlock()
	if role != RolePrimary || !n.cfg.ReleaseOnStop {
		return
	}
	const reason = "pbxha stopping: handing the service to the peer"
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaveTimeout)
	defer cancel()
	view := n.tracker.View(n.clock.Now())
	if _, err := n.cfg.Act.Release(ctx, Move{Epoch: epoch, Reason: reason, Peer: view.Node, PeerWAL: view.WAL}); err != nil {
		n.log.Error("release at stop failed: the peer takes over once it finds this node silent", "role", role, "action", ActionRelease, "err", err)
		return
	}
	n.roleChange(n.clock.Now(), RolePrimary, RoleStandby, epoch, reason)
	n.mu.Lock()
	n.st.Role, n.st.Reason = RoleStandby, reason
	n.hb.Role, n.hb.Eligible = RoleStandby, false
	n.mu.Unlock()
	for i := range leaveHeartbeats {
		if i > 0 {
			n.clock.Sleep(leaveSpacing)
		}
		n.sendHeartbeat()
	}
}

// KeepRoleOnStop makes the node's next stop a restart that keeps the role
// (an upgrade of the sidecar): see pause. Without it a primary hands over.
func (n *Node) KeepRoleOnStop() {
	n.mu.Lock()
	n.keepRole = true
	n.mu.Unlock()
}

// pause ends a run for a restart that keeps the role, and reports whether
// it did. A primary leaves its resources as they are, writes the resume
// note for the next process (TakeResume) and tells its peer in a few last
// heartbeats that it is restarting, so the peer holds off a takeover for
// restart_hold. A node that is not primary just goes silent. When the note
// cannot be written the next process could not resume: pause returns false
// and the caller hands over as for a stop.
func (n *Node) pause() bool {
	n.mu.Lock()
	keep, role, epoch := n.keepRole, n.st.Role, n.st.Epoch
	n.mu.Unlock()
	if !keep {
		return false
	}
	if role != RolePrimary {
		n.log.Info("pbxha restarting", "role", role)
		return true
	}
	now := n.clock.Now()
	if err := SaveResume(n.cfg.StateDir, Resume{Epoch: epoch, At: now}); err != nil {
		n.log.Error("restart cannot keep the role: handing the service over instead", "err", err)
		return false
	}
	n.mu.Lock()
	n.hb.Restarting = true
	n.st.Reason = "pbxha restarting: the role is kept"
	n.mu.Unlock()
	n.log.Warn("pbxha restarting as primary: the VIP, the database and the PBX stay; the peer holds off", "epoch", epoch, "restart_hold", n.cfg.Policy.restartHold())
	for i := range leaveHeartbeats {
		if i > 0 {
			n.clock.Sleep(leaveSpacing)
		}
		n.sendHeartbeat()
	}
	return true
}
