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
// keepalive at a time, each bounded by the renewal period. The lease is
// certainly alive until the send time of the newest renewal etcd
// answered plus the TTL (etcd restarts the TTL when it receives the
// renewal, which is after it was sent); that instant is the SafeUntil the
// decision steps down before. A failed renewal is tried again after a
// tick; a lease etcd no longer knows is replaced by a new grant.
func (r *Runtime) keepLease(ctx context.Context) {
	p := r.cfg.Policy
	ttl := p.LeaseTTL
	secs := max(int64(ttl/time.Second), 1)
	wait := time.Duration(0)
	for {
		if !sleepCtx(ctx, wait) {
			return
		}
		id := r.leaseID()
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, p.RenewEvery())
		var got int64
		var err error
		if id == 0 {
			var resp *clientv3.LeaseGrantResponse
			if resp, err = r.cli.Grant(cctx, secs); err == nil {
				id, got = resp.ID, resp.TTL
			}
		} else {
			var resp *clientv3.LeaseKeepAliveResponse
			if resp, err = r.cli.KeepAliveOnce(cctx, id); err == nil {
				got = resp.TTL
			}
		}
		cancel()
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

// renewed records a renewal (or a grant, or a lease lost: id 0).
func (r *Runtime) renewed(id clientv3.LeaseID, safe time.Time) {
	r.mu.Lock()
	changed := r.st.lease != id
	r.st.lease, r.st.safeUntil, r.st.renewedAt = id, safe, time.Now()
	wasDown := r.st.etcdErr != ""
	r.st.etcdErr = ""
	r.mu.Unlock()
	if changed || wasDown {
		if wasDown {
			r.log.Info("etcd reachable again")
		}
		r.publishNow()
		r.Poke()
	}
}

// renewFailed records a renewal that got no answer.
func (r *Runtime) renewFailed(err error) {
	r.mu.Lock()
	first := r.st.etcdErr == ""
	r.st.etcdErr = err.Error()
	r.st.etcdErrAt = time.Now()
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
			sleepCtx(ctx, r.cfg.Policy.Tick)
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

// publishNow makes the next decision write the member key whatever
// changed (a new lease needs it).
func (r *Runtime) publishNow() {
	r.mu.Lock()
	r.st.published = memberDoc{}
	r.mu.Unlock()
}

// publish writes this node's member key when it changed (the position: at
// most every AnnounceEvery), bound to its lease; a leader also writes the
// optime key, the last position it announced, which outlives it. It runs
// one write at a time, apart from the decision loop.
func (r *Runtime) publish(doc memberDoc, leader bool, wal uint64) {
	r.mu.Lock()
	id := r.st.lease
	now := time.Now()
	due := !doc.same(r.st.published) || (doc.WAL != r.st.published.WAL && now.Sub(r.st.published.At) >= AnnounceEvery)
	if id == 0 || !due || r.st.publishing {
		r.mu.Unlock()
		return
	}
	doc.At = now
	r.st.publishing = true
	r.mu.Unlock()
	go func() {
		ok := r.put(doc, id, leader, wal)
		r.mu.Lock()
		r.st.publishing = false
		if ok {
			r.st.published = doc
		}
		r.mu.Unlock()
	}()
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

// sleepCtx waits d, or returns false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
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
