package failover

import (
	"context"
	"time"
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
			if _, err := n.tracker.Receive(p.Path, p.Data, n.clock.Now()); err != nil {
				n.log.Debug("heartbeat dropped", "path", p.Path, "reason", DropReason(err), "err", err)
				continue
			}
			n.Poke() // the peer's news (a release, a role) is acted on at once
		}
	}
}

// send writes a heartbeat every Interval, and at once when the loop asks
// (after a role change), whether or not an action runs.
func (n *Node) send(ctx context.Context) {
	t := n.clock.NewTimer(n.cfg.Interval)
	defer t.Stop()
	for {
		n.sendHeartbeat()
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-n.wake:
		}
		t.Reset(n.cfg.Interval)
	}
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
	b, err := Encode(n.keys().Current, hb)
	if err == nil {
		err = n.cfg.Transport.Send(b)
	}
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
