package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// switchover drains this node's calls when it is primary (up to drain), then
// asks for the planned move and waits until the target is primary, the
// request times out, or ctx ends; a request still pending then is ended, so
// that it does not move the service after its caller stopped waiting.
func (p *pair) switchover(ctx context.Context, d *daemon, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	start := time.Now()
	ns := p.node.Status()
	peer := ns.Peer.Node
	if to != "" && to != ns.Node && (peer == "" || to != peer) {
		return control.SwitchoverResult{}, fmt.Errorf("switchover: %q is not a node of this pair (%s, %s)", to, ns.Node, cmp.Or(peer, "peer not heard yet"))
	}
	res := control.SwitchoverResult{Target: to}
	var drained []failover.Step
	if ns.Role == failover.RolePrimary && drain > 0 {
		res.Drained = activeCalls(d.agent.States())
		deadline := time.Now().Add(drain)
		for activeCalls(d.agent.States()) > 0 && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		what := "no active calls to drain"
		switch left := activeCalls(d.agent.States()); {
		case res.Drained > 0 && left == 0:
			what = fmt.Sprintf("%d active call(s) drained", res.Drained)
		case left > 0:
			what = fmt.Sprintf("drain timeout %s: %d call(s) still active", drain, left)
		}
		drained = append(drained, failover.Step{At: time.Now(), Node: ns.Node, What: what})
	}
	id := p.node.RequestSwitchover(to, force)
	timeline := func(ns failover.NodeStatus) []control.TimelineStep {
		var out []control.TimelineStep
		for _, s := range append(drained, ns.Switchover.Steps...) {
			out = append(out, control.TimelineStep{At: s.At, OffsetMS: ms(s.At.Sub(start)), Node: s.Node, What: s.What})
		}
		slices.SortStableFunc(out, func(a, b control.TimelineStep) int { return a.At.Compare(b.At) })
		return out
	}
	for {
		ns = p.node.Status()
		if ns.Switchover.Request.ID == id && ns.Switchover.Outcome != "pending" {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
			continue
		}
		// The reason is the one the request waited on.
		if reason := ns.Reason; p.node.EndSwitchover(id) {
			ns = p.node.Status()
			ns.Reason = reason
		} else {
			ns = p.node.Status() // it ended meanwhile
		}
		break
	}
	res.Outcome, res.Target, res.Reason, res.Epoch = ns.Switchover.Outcome, ns.Switchover.Request.Target, ns.Reason, ns.Epoch
	if ns.Switchover.Request.ID != id {
		res.Outcome, res.Target = "replaced by a later request", to
	}
	res.Timeline = timeline(ns)
	switch {
	case ns.Role == failover.RolePrimary:
		res.Primary = ns.Node
	case ns.Peer.Alive && ns.Peer.Role == failover.RolePrimary:
		res.Primary = ns.Peer.Node
	}
	res.TookMS = ms(time.Since(start))
	return res, nil
}

// activeCalls sums the call counts the esl and ami probes last read.
func activeCalls(states []probe.CheckState) int {
	n := 0
	for _, s := range states {
		if s.Last != nil && (s.Kind == "esl" || s.Kind == "ami") {
			n += int(s.Last.Values["calls"])
		}
	}
	return n
}
