package act

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/clock"
)

// Switcher is the failover node as a switchover sees it; *failover.Node
// implements it.
type Switcher interface {
	Status() failover.NodeStatus
	RequestSwitchover(target string, force bool) uint64
	EndSwitchover(id uint64) bool
}

// Drain and poll periods of a switchover.
const (
	drainPoll  = 200 * time.Millisecond
	resultPoll = 50 * time.Millisecond
)

// Switchover is one planned move of the primary role, asked for through
// the control API (`pbxha switchover`).
type Switchover struct {
	Node Switcher
	// Calls returns the PBX's active calls as the call-counting probes
	// last read them; counted is false when no probe counts calls.
	Calls func() (calls int, counted bool)
	Clock clock.Clock // clock.Real when nil
}

// Run drains this node's calls when it is primary (up to drain), then asks
// for the move to `to` ("" means the node that is not primary now) and
// waits until the target is primary, the request times out, or ctx ends; a
// request still pending then is ended, so that it does not move the
// service after its caller stopped waiting.
func (s Switchover) Run(ctx context.Context, to string, drain time.Duration, force bool) (control.SwitchoverResult, error) {
	clk := clock.Or(s.Clock)
	start := clk.Now()
	ns := s.Node.Status()
	peer := ns.Peer.Node
	if to != "" && to != ns.Node && (peer == "" || to != peer) {
		return control.SwitchoverResult{}, fmt.Errorf("switchover: %q is not a node of this pair (%s, %s)", to, ns.Node, cmp.Or(peer, "peer not heard yet"))
	}
	res := control.SwitchoverResult{Target: to}
	var drained []failover.Step
	if ns.Role == failover.RolePrimary && drain > 0 {
		step, err := s.drain(ctx, clk, drain, &res)
		if err != nil {
			return res, err
		}
		drained = append(drained, failover.Step{At: clk.Now(), Node: ns.Node, What: step})
	}
	id := s.Node.RequestSwitchover(to, force)
	for {
		ns = s.Node.Status()
		if ns.Switchover.Request.ID == id && ns.Switchover.Outcome != "pending" {
			break
		}
		if sleep(ctx, clk, resultPoll) {
			continue
		}
		// The reason is the one the request waited on.
		if reason := ns.Reason; s.Node.EndSwitchover(id) {
			ns = s.Node.Status()
			ns.Reason = reason
		} else {
			ns = s.Node.Status() // it ended meanwhile
		}
		break
	}
	res.Outcome, res.Target, res.Reason, res.Epoch = ns.Switchover.Outcome, ns.Switchover.Request.Target, ns.Reason, ns.Epoch
	if ns.Switchover.Request.ID != id {
		res.Outcome, res.Target = "replaced by a later request", to
	}
	for _, st := range append(drained, ns.Switchover.Steps...) {
		res.Timeline = append(res.Timeline, control.TimelineStep{At: st.At, OffsetMS: ms(st.At.Sub(start)), Node: st.Node, What: st.What})
	}
	slices.SortStableFunc(res.Timeline, func(a, b control.TimelineStep) int { return a.At.Compare(b.At) })
	switch {
	case ns.Role == failover.RolePrimary:
		res.Primary = ns.Node
	case ns.Peer.Alive && ns.Peer.Role == failover.RolePrimary:
		res.Primary = ns.Peer.Node
	}
	res.TookMS = ms(clk.Now().Sub(start))
	return res, nil
}

// drain waits up to limit for the active calls to end, and returns the
// timeline step that says how it went.
func (s Switchover) drain(ctx context.Context, clk clock.Clock, limit time.Duration, res *control.SwitchoverResult) (string, error) {
	calls, counted := s.Calls()
	if !counted {
		return "nothing counts calls (no esl or ami probe reads them): nothing drained", nil
	}
	res.Drained = calls
	deadline := clk.Now().Add(limit)
	for calls > 0 && clk.Now().Before(deadline) {
		if !sleep(ctx, clk, drainPoll) {
			return "", ctx.Err()
		}
		calls, _ = s.Calls()
	}
	switch {
	case calls > 0:
		return fmt.Sprintf("drain timeout %s: %d call(s) still active", limit, calls), nil
	case res.Drained > 0:
		return fmt.Sprintf("%d active call(s) drained", res.Drained), nil
	}
	return "no active calls to drain", nil
}

// sleep waits d and reports true, or false when ctx ends first.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// ms returns d in milliseconds, with fractions.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
