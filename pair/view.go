package pair

import (
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// nodes builds the cluster view: this node as it knows itself (its
// probes, its database as the pg probe last read it), then the peer as its
// heartbeats tell. peerLag is this node's lag behind the peer's announced
// WAL position (Status computes it).
func (p *Pair) nodes(ns failover.NodeStatus, peerLag uint64, now time.Time) []control.ClusterNode {
	self := control.ClusterNode{
		Node: p.cfg.Node, Self: true, Alive: true, Role: ns.Role.String(), Health: ns.Health.String(),
		Epoch: ns.Epoch, Maintenance: ns.Maintenance,
	}
	var states []probe.CheckState
	if p.cfg.States != nil {
		states = p.cfg.States()
	}
	self.Probes = failover.Summarize(states).Text()
	var localWAL uint64
	if p.cfg.DB {
		self.DB = failover.DBUnknown.String()
		if st, _, ok := probe.LastPG(p.cfg.Checks(), now); ok {
			self.DB = string(st.Role)
			localWAL = uint64(st.WALPosition())
			self.WAL = probe.LSN(localWAL).String()
		}
	}
	peer := control.ClusterNode{Node: ns.Peer.Node, Alive: ns.Peer.Alive, Epoch: ns.Peer.Epoch}
	if peer.Node == "" {
		peer.Node = "(peer)"
	}
	pv := ns.Peer
	if pv.Heard {
		peer.Role, peer.Health, peer.Maintenance = pv.Role.String(), pv.Health.String(), pv.Maintenance
		peer.Probes = pv.Probes.Text()
		t := pv.LastHeard
		peer.LastHeard = &t
		if p.cfg.DB && pv.DB != failover.DBNone {
			peer.DB = pv.DB.String()
			if pv.WAL != 0 {
				peer.WAL = probe.LSN(pv.WAL).String()
			}
		}
	}
	// The standby's lag: this node's behind the peer's announcement, or
	// the peer's behind this primary's position.
	if p.cfg.DB && pv.Heard && pv.WAL != 0 && localWAL != 0 {
		switch {
		case self.DB == string(probe.PGRoleStandby):
			lag := peerLag
			self.LagBytes = &lag
		case pv.DB == failover.DBStandby:
			var lag uint64
			if localWAL > pv.WAL {
				lag = localWAL - pv.WAL
			}
			peer.LagBytes = &lag
		}
	}
	return []control.ClusterNode{self, peer}
}
