package etcdha

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/vip"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keepLease grants this node's lease and renews it every RenewEvery, one
// keepalive at a time over one stream (keepalive), each bounded by the
// renewal period. The lease is
// certainly alive until the send time of the newest renewal etcd
// answered plus the TTL (etcd restarts the TTL when it receives the
// renewal, which is after it was sent); that instant is the SafeUntil the
// decision steps down before. A failed renewal is tried again after a
// tick; a lease etcd no longer knows is replaced by a new grant. A
// renewal only moves the step-down point later, so it wakes the decision
// loop only when the decision may change: a new lease, etcd answering
// again, or an answer that came after the old step-down point.
func (r *Runtime) keepLease(ctx context.Context) {
	p := r.cfg.Policy
	ttl := p.LeaseTTL
	secs := max(int64(ttl/time.Second), 1)
	wait := time.Duration(0)
	ka := newKeepalive(r.cli, r.clock)
	defer ka.close()
	for {
		if !r.sleep(ctx, wait) {
			return
		}
		id := r.leaseID()
		sent := r.clock.Now()
		var got int64
		var err error
		if id == 0 {
			cctx, cancel := context.WithTimeout(ctx, p.RenewEvery())
			var resp *clientv3.LeaseGrantResponse
			if resp, err = r.cli.Grant(cctx, secs); err == nil {
				id, got = resp.ID, resp.TTL
			}
			cancel()
		} else {
			got, err = ka.renew(ctx, id, p.RenewEvery())
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			// etcd may grant more than asked (its minimum TTL): count the
			// smaller, which only makes the step-down earlier.
			safe := sent.Add(min(ttl, time.Duration(got)*time.Second))
			r.renewed(id, safe)
			wait = p.RenewEvery()
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			r.log.Warn("etcd lease expired; granting a new one", "err", err)
			r.renewed(0, time.Time{})
			wait = 0
		default:
			r.renewFailed(err)
			wait = p.Tick
		}
	}
}

// leaseID returns this node's current lease (0: none).
func (r *Runtime) leaseID() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.lease
}

// renewed records a renewal (or a grant, or a lease lost: id 0) and pokes
// the decision loop when the decision may change: a new lease (or none),
// the first answer after failures, or an answer that came after the step-
// down point of the lease as it stood (the loop, woken there, found the
// node past it). Otherwise the loop sees the new SafeUntil when it next
// wakes, which is no later than the old step-down point.
func (r *Runtime) renewed(id clientv3.LeaseID, safe time.Time) {
	now := r.clock.Now()
	r.mu.Lock()
	changed := r.st.lease != id
	p := r.cfg.Policy
	p.StepDown = r.st.budget
	late := r.st.safeUntil.IsZero() || !now.Before(p.StepDownAt(r.st.safeUntil))
	r.st.lease, r.st.safeUntil, r.st.renewedAt = id, safe, now
	wasDown := r.st.etcdErr != ""
	r.st.etcdErr = ""
	if changed || wasDown {
		r.publishNowLocked()
	}
	r.mu.Unlock()
	if wasDown {
		r.log.Info("etcd reachable again")
	}
	if changed || wasDown || late {
		r.Poke()
	}
}

// renewFailed records a renewal that got no answer.
func (r *Runtime) renewFailed(err error) {
	r.mu.Lock()
	first := r.st.etcdErr == ""
	r.st.etcdErr = err.Error()
	r.st.etcdErrAt = r.clock.Now()
	r.mu.Unlock()
	if first {
		r.log.Warn("etcd lease renewal failed", "err", err)
	}
	r.Poke()
}

// watchCluster reads the cluster's keys and follows them with a watch; a
// watch that fails (etcd lost its leader, a compaction) reads them again.
func (r *Runtime) watchCluster(ctx context.Context) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Policy.LeaseTTL)
		resp, err := r.cli.Get(cctx, r.k.base, clientv3.WithPrefix())
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("etcd read failed", "err", err)
			}
			r.sleep(ctx, r.cfg.Policy.Tick)
			continue
		}
		v := view{rev: resp.Header.Revision, members: map[string]memberDoc{}}
		for _, kv := range resp.Kvs {
			if err := v.apply(r.k, kv, false); err != nil {
				r.log.Warn("ignoring a malformed cluster key", "target", string(kv.Key), "err", err)
			}
		}
		r.setView(v)
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := r.cli.Watch(wctx, r.k.base, clientv3.WithPrefix(), clientv3.WithRev(v.rev+1))
		for wr := range wch {
			if wr.Err() != nil {
				r.log.Debug("etcd watch ended", "err", wr.Err())
				break
			}
			r.mu.Lock()
			for _, ev := range wr.Events {
				if err := r.st.view.apply(r.k, ev.Kv, ev.Type == clientv3.EventTypeDelete); err != nil {
					r.log.Warn("ignoring a malformed cluster key", "target", string(ev.Kv.Key), "err", err)
				}
			}
			r.st.view.rev = wr.Header.Revision
			r.mu.Unlock()
			r.Poke()
		}
		wcancel()
	}
}

// setView replaces the view after a full read.
func (r *Runtime) setView(v view) {
	r.mu.Lock()
	r.st.view = v
	r.st.synced = true
	r.mu.Unlock()
	r.Poke()
}

// publish writes this node's member key when it changed (the position: at
// most every AnnounceEvery), bound to its lease; a leader also writes the
// optime key, the last position it announced, which outlives it. It runs
// one write at a time, apart from the decision loop: a write that ends
// with something left to write (the doc changed meanwhile, or the write
// failed: again after a tick) pokes the loop. It returns when it must be
// called again if nothing else wakes the loop (zero: no need): a changed
// position's AnnounceEvery, a failed write's retry.
func (r *Runtime) publish(now time.Time, doc memberDoc, leader bool, wal uint64) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	id := st.lease
	switch {
	case id == 0:
		return time.Time{} // a new lease pokes the loop
	case st.publishing:
		st.republish = true
		return time.Time{}
	case now.Before(st.publishRetry):
		return st.publishRetry
	}
	if doc.same(st.published) {
		if doc.WAL == st.published.WAL {
			return time.Time{}
		}
		if at := st.published.At.Add(AnnounceEvery); now.Before(at) {
			return at
		}
	}
	doc.At = now
	st.publishing = true
	go func() {
		ok := r.put(doc, id, leader, wal)
		r.mu.Lock()
		st.publishing = false
		if ok {
			st.published = doc
		} else {
			st.publishRetry = r.clock.Now().Add(r.cfg.Policy.Tick)
		}
		again := st.republish || !ok
		st.republish = false
		r.mu.Unlock()
		if again {
			r.Poke()
		}
	}()
	return time.Time{}
}

// put writes the member key (and the optime for a leader).
func (r *Runtime) put(doc memberDoc, id clientv3.LeaseID, leader bool, wal uint64) bool {
	b, err := json.Marshal(doc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Policy.RenewEvery())
	defer cancel()
	ops := []clientv3.Op{clientv3.OpPut(r.k.member(r.cfg.Node), string(b), clientv3.WithLease(id))}
	if leader && wal != 0 {
		_, err = r.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(r.k.leader()), "=", id)).
			Then(append(ops, clientv3.OpPut(r.k.optime(), strconv.FormatUint(wal, 10)))...).Else(ops...).Commit()
	} else {
		_, err = r.cli.Txn(ctx).Then(ops...).Commit()
	}
	if err != nil {
		r.log.Debug("member key not written", "err", err)
		return false
	}
	return true
}

// sleep waits d on the runtime's clock, or returns false when ctx ends
// first.
func (r *Runtime) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// trackedVIP is the VIP as the act stage moves it: an up or down that
// worked sets the tracked state at once (as package pair's does), so the
// next decision sees what the action did.
type trackedVIP struct {
	*vip.VIP
	state *atomic.Uint32 // failover.VIPState
}

// Up adds the VIP; on success it is tracked as held.
func (t trackedVIP) Up(ctx context.Context) error {
	err := t.VIP.Up(ctx)
	if err == nil {
		t.state.CompareAndSwap(uint32(failover.VIPAbsent), uint32(failover.VIPHeld))
	}
	return err
}

// Down removes the VIP; on success it is tracked as absent.
func (t trackedVIP) Down(ctx context.Context) error {
	err := t.VIP.Down(ctx)
	if err == nil {
		t.state.CompareAndSwap(uint32(failover.VIPHeld), uint32(failover.VIPAbsent))
	}
	return err
}
