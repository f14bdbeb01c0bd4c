package etcdha

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
)

// Status renders the node for the control API: its role, the last
// decision, the etcd lease, and every live member (this node first, then
// the others by name) as their member keys say.
func (r *Runtime) Status() (string, control.Pair) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	v := st.view
	out := control.Pair{Epoch: v.epoch, Reason: st.reason, LastError: st.lastErr, VIP: r.cfg.VIPAddr,
		StepDownBudgetMS: st.budget.Milliseconds()}
	if st.busy != failover.ActionNone {
		t := st.busySince
		out.Acting, out.ActingSince = st.busy.String(), &t
	} else if st.aux != failover.ActionNone {
		t := st.auxSince
		out.Acting, out.ActingSince = st.aux.String(), &t
	}
	e := &control.Etcd{Endpoints: r.cfg.Endpoints, Prefix: r.k.base, Leader: v.leader, LeaseTTLMS: r.cfg.Policy.LeaseTTL.Milliseconds()}
	if !st.renewedAt.IsZero() {
		t, s := st.renewedAt, st.safeUntil
		e.RenewedAt, e.SafeUntil = &t, &s
	}
	if st.etcdErr != "" {
		t := st.etcdErrAt
		e.Error, e.ErrorSince = st.etcdErr, &t
	}
	if sw := v.switchover; sw.ID != "" {
		e.Switchover = fmt.Sprintf("to %s (asked on %s)", cmp.Or(sw.To, "the best other member"), sw.From)
	}
	out.Etcd = e
	for _, h := range st.history {
		out.RoleHistory = append(out.RoleHistory, control.RoleHistory{At: h.At, From: h.From.String(), To: h.To.String(), Epoch: h.Epoch, Reason: h.Reason})
	}
	out.Nodes = r.nodes(now)
	return st.role.String(), out
}

// nodes lists every live member; mu is held.
func (r *Runtime) nodes(now time.Time) []control.ClusterNode {
	st := &r.st
	v := st.view
	self := control.ClusterNode{Node: r.cfg.Node, Self: true, Alive: true, Role: st.role.String(), Epoch: v.epoch,
		Health: st.published.Health, Maintenance: st.published.Maintenance, Probes: st.published.Probes}
	if m, ok := v.members[r.cfg.Node]; ok && self.Health == "" {
		self.Health, self.Probes = m.Health, m.Probes
	}
	leaderWAL := v.optime
	row := func(m memberDoc, n control.ClusterNode) control.ClusterNode {
		if m.DB != "" && r.cfg.DB {
			n.DB = m.DB
			if m.WAL != 0 {
				n.WAL = fmt.Sprintf("%X/%X", m.WAL>>32, uint32(m.WAL))
				if m.DB == failover.DBStandby.String() && leaderWAL >= m.WAL {
					lag := leaderWAL - m.WAL
					n.LagBytes = &lag
				}
			}
		}
		return n
	}
	if m, ok := v.members[r.cfg.Node]; ok {
		self = row(m, self)
	}
	out := []control.ClusterNode{self}
	var names []string
	for name := range v.members {
		if name != r.cfg.Node {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		m := v.members[name]
		at := m.At
		n := control.ClusterNode{Node: name, Alive: true, Role: m.Role, Health: m.Health, Epoch: v.epoch,
			Maintenance: m.Maintenance, Probes: m.Probes, LastHeard: &at}
		if name == v.leader && m.Role != failover.RolePrimary.String() {
			n.Role += " (leader key)"
		}
		out = append(out, row(m, n))
	}
	return out
}

// Problem returns why this node cannot take part in the cluster though it
// runs (etcd unreachable), or nil: metrics' /healthz reports it.
func (r *Runtime) Problem() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.etcdErr != "" {
		return fmt.Errorf("etcd unreachable since %s: %s", r.st.etcdErrAt.Format(time.RFC3339), r.st.etcdErr)
	}
	return nil
}

// VIPHeld reports whether this node holds the service address, for
// metrics: ok is false without a VIP or when the check fails.
func (r *Runtime) VIPHeld() (held, ok bool) {
	if r.cfg.VIP == nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h, err := r.cfg.VIP.Held(ctx)
	return h, err == nil
}
