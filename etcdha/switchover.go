package etcdha

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Drain and poll periods of a switchover.
const (
	drainPoll  = 200 * time.Millisecond
	resultPoll = 20 * time.Millisecond
)

// request writes the switchover key naming to ("": the best other member),
// bound to this node's lease so that it ends with this node, and returns
// its ID.
func (r *Runtime) request(ctx context.Context, to string, force bool) error {
	_, err := r.putRequest(ctx, to, force)
	return err
}

func (r *Runtime) putRequest(ctx context.Context, to string, force bool) (string, error) {
	id := event.NewID(r.clock.Now())
	r.mu.Lock()
	away := r.st.view.leader
	r.mu.Unlock()
	doc := requestDoc{ID: id, To: to, Force: force, From: r.cfg.Node, Away: away, At: r.clock.Now()}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	lease := r.leaseID()
	if lease == 0 {
		return "", fmt.Errorf("etcdha: switchover to %s: no etcd lease (etcd unreachable?)", cmp.Or(to, "any"))
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Policy.LeaseTTL)
	defer cancel()
	if _, err := r.cli.Put(cctx, r.k.switchover(), string(b), clientv3.WithLease(lease)); err != nil {
		return "", fmt.Errorf("etcdha: switchover to %s: write %s: %w", cmp.Or(to, "any"), r.k.switchover(), err)
	}
	r.mu.Lock()
	r.st.view.switchover = doc // the watch brings it too
	r.mu.Unlock()
	r.Poke()
	return id, nil
}

// endRequest deletes the switchover key once its target leads (or the
// request id names this request).
func (r *Runtime) endRequest(j *job) {
	sw := j.o.Switchover
	if !sw.Active() {
		return
	}
	r.deleteRequest(sw.ID)
}

// deleteRequest deletes the switchover key if it still holds request id.
func (r *Runtime) deleteRequest(id string) {
	r.mu.Lock()
	cur := r.st.view.switchover
	r.mu.Unlock()
	if cur.ID != id {
		return
	}
	b, _ := json.Marshal(cur)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Policy.LeaseTTL)
	defer cancel()
	_, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(r.k.switchover()), "=", string(b))).
		Then(clientv3.OpDelete(r.k.switchover())).Commit()
	if err != nil {
		r.log.Warn("could not delete the switchover request; it ends with its node's lease", "err", err)
	}
}

// Switchover runs a planned switchover asked for over the control API: on
// the leader it first waits up to drain for the active calls to end; then
// it writes the request and waits until another node (to, when named)
// leads, or ctx ends — then the request is deleted, so that it moves
// nothing after its caller stopped waiting.
func (r *Runtime) Switchover(ctx context.Context, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	start := r.clock.Now()
	r.mu.Lock()
	v := r.st.view
	role := r.st.role
	r.mu.Unlock()
	if to != "" && to != r.cfg.Node {
		if _, ok := v.members[to]; !ok {
			return control.SwitchoverResult{}, fmt.Errorf("etcdha: switchover: %q is not a live member of cluster %s", to, r.cfg.Cluster)
		}
	}
	from := v.leader
	if to != "" && to == from {
		return control.SwitchoverResult{Outcome: "done", Target: to, Primary: from, Epoch: v.epoch, Reason: to + " already leads"}, nil
	}
	res := control.SwitchoverResult{Target: to}
	var steps []failover.Step
	if role == failover.RolePrimary && drain > 0 {
		what := r.drain(ctx, drain, &res)
		steps = append(steps, failover.Step{At: r.clock.Now(), Node: r.cfg.Node, What: what})
	}
	r.mu.Lock()
	mark := len(r.st.steps)
	r.mu.Unlock()
	asked := r.clock.Now()
	id, err := r.putRequest(ctx, to, force)
	if err != nil {
		return res, err
	}
	steps = append(steps, failover.Step{At: asked, Node: r.cfg.Node, What: fmt.Sprintf("switchover to %s requested", cmp.Or(to, "the best other member"))})
	res.Outcome = "timed out"
	var leader string
	for {
		r.mu.Lock()
		leader, res.Epoch, res.Reason = r.st.view.leader, r.st.view.epoch, r.st.reason
		r.mu.Unlock()
		if leader != "" && leader != from && (to == "" || leader == to) {
			res.Outcome = "done"
			steps = append(steps, failover.Step{At: r.clock.Now(), Node: leader, What: "seen leader"})
			break
		}
		if !r.sleep(ctx, resultPoll) {
			break
		}
	}
	r.deleteRequest(id)
	r.mu.Lock()
	if mark <= len(r.st.steps) {
		steps = append(steps, r.st.steps[mark:]...)
	}
	r.mu.Unlock()
	slices.SortStableFunc(steps, func(a, b failover.Step) int { return a.At.Compare(b.At) })
	for _, st := range steps {
		res.Timeline = append(res.Timeline, control.TimelineStep{At: st.At, OffsetMS: ms(st.At.Sub(start)), Node: st.Node, What: st.What})
	}
	res.Target, res.Primary = cmp.Or(to, leader), leader
	res.TookMS = ms(r.clock.Now().Sub(start))
	return res, nil
}

// drain waits up to limit for the active calls to end and says how it went.
func (r *Runtime) drain(ctx context.Context, limit time.Duration, res *control.SwitchoverResult) string {
	calls, counted := probe.ActiveCalls(r.cfg.States())
	if !counted {
		return "nothing counts calls (no esl or ami probe reads them): nothing drained"
	}
	res.Drained = calls
	deadline := r.clock.Now().Add(limit)
	for calls > 0 && r.clock.Now().Before(deadline) {
		if !r.sleep(ctx, drainPoll) {
			break
		}
		calls, _ = probe.ActiveCalls(r.cfg.States())
	}
	switch {
	case calls > 0:
		return fmt.Sprintf("drain timeout %s: %d call(s) still active", limit, calls)
	case res.Drained > 0:
		return fmt.Sprintf("%d active call(s) drained", res.Drained)
	}
	return "no active calls to drain"
}

// ms returns d in milliseconds, with fractions.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
