package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/netlab"
)

// RunPair builds the pair (namespaces or loopback), tells the story on w,
// and removes everything it started and created, also when ctx ends (Ctrl-C),
// which is not an error. It returns an error when the story could not be
// told or did not finish within o.Bound.
func RunPair(ctx context.Context, w io.Writer, o PairOptions) error {
	out := newDemoPrinter(w, o.Verbose)
	exe := o.Exe
	if exe == "" {
		if testing.Testing() {
			// The children would run the tests instead of pbxha.
			return errors.New("demo: run from a test binary without PairOptions.Exe, the pbxha program for the nodes")
		}
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("demo: find this program to run the nodes: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "pbxha-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	mode := o.Mode
	if mode == ModeAuto {
		mode = ModeNetns
		if err := netlab.Available(); err != nil {
			mode = ModeLoopback
			out.say("demo", "mode loopback (%v): both nodes on loopback, the VIP simulated by a marker file", err)
		}
	}
	if mode == ModeNetns {
		out.say("demo", "mode netns: building network namespaces on %s (a bridge, n1, n2, client); VIP %s", netlab.Subnet, labVIP)
	} else if o.Mode == ModeLoopback {
		out.say("demo", "mode loopback: both nodes on loopback, the VIP simulated by a marker file")
	}
	env, err := newPairEnv(ctx, mode, dir, exe, out)
	if err != nil && o.Mode == ModeAuto && mode == ModeNetns && ctx.Err() == nil {
		out.say("demo", "could not build the namespaces (%v); running on loopback instead", err)
		mode = ModeLoopback
		env, err = newPairEnv(ctx, mode, dir, exe, out)
	}
	if err != nil {
		return err
	}
	defer func() {
		what := "the nodes and test PBXs"
		if env.lab != nil {
			what += ", the namespaces"
		}
		out.say("demo", "stopping %s; removing %s", what, dir)
		if err := env.close(); err != nil {
			out.say("demo", "cleanup: %v", err)
		}
	}()

	sctx, cancel := context.WithTimeout(ctx, o.Bound)
	defer cancel()
	s := &pairStory{env: env, out: out}
	err = s.run(sctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		out.say("demo", "interrupted")
		return nil
	}
	for _, n := range env.nodes {
		out.say("demo", "%s %s", n.name, statusLine(s.status(n)))
	}
	if sctx.Err() != nil {
		return fmt.Errorf("demo: the story did not finish within --duration %s: %w", o.Bound, err)
	}
	return err
}

// pairStory drives the demo: election, a hung PBX and the failover, the
// recovery, a planned switchover, and the summary.
type pairStory struct {
	env    *pairEnv
	out    *demoPrinter
	client *vipClient
	steps  []storyStep // for the summary
}

// storyStep is one move of the service, for the summary.
type storyStep struct {
	what     string
	from, to string
	ev       event.Event
	ref      time.Time // the hang or the request
	refText  string    // what happened at ref
	outages  []outage
}

func (s *pairStory) say(format string, args ...any) { s.out.say("demo", format, args...) }

func (s *pairStory) run(ctx context.Context) error {
	e := s.env
	if err := e.start(ctx); err != nil {
		return err
	}
	for _, n := range e.nodes {
		s.say("%s", e.describe(n))
	}
	if cfg := e.defaults; len(cfg.Probes.SIP) > 0 {
		p := cfg.Probes.SIP[0]
		s.say("embedded default config: SIP probe every %s (timeout %s, fall %d); heartbeat every %s, peer dead after %s; failover %s, failback %s",
			p.Interval, p.Timeout, p.Fall, cfg.Peer.Interval, cfg.Peer.DeadAfter, cfg.Failover.Mode, cfg.Failover.Failback)
	}
	s.client = &vipClient{route: e.route, within: e.within, say: func(f string, a ...any) { s.out.say("client", f, a...) }}
	cctx, stopClient := context.WithCancel(ctx)
	clientDone := make(chan struct{})
	go func() { defer close(clientDone); s.client.run(cctx) }()
	defer func() { stopClient(); <-clientDone }()
	s.say("client: SIP OPTIONS to %s every %s (timeout %s)", e.clientText(), msText(clientEvery), msText(clientTimeout))

	// 1. The pair elects a primary, which takes the VIP.
	begin := time.Now()
	var primary *demoNode
	if err := s.waitFor(ctx, "one node primary, the other standby, and the service answering via the VIP", func() bool {
		p := s.settled()
		primary = p
		return p != nil && s.client.answeringSince(begin)
	}); err != nil {
		return err
	}
	standby := e.other(primary)
	st := s.status(primary)
	s.say("%s is primary (epoch %d) and holds %s; %s is standby", primary.name, epochOf(st), e.vipText(), standby.name)
	s.pause(ctx, 2*time.Second)

	// 2. The primary's PBX hangs; the standby takes over.
	hangAt := time.Now()
	if err := primary.pbx.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.say("%s's PBX hangs now: SIGSTOP to pid %d (the process lives, SIP goes silent)", primary.name, primary.pbx.pid())
	if err := s.waitFor(ctx, standby.name+" primary and the service answering again", func() bool {
		return s.role(standby) == "primary" && s.client.answeringSince(hangAt)
	}); err != nil {
		return err
	}
	fo, err := s.step(ctx, "failover", hangAt, "the PBX hung", primary, standby, event.Failover)
	if err != nil {
		return err
	}
	s.timeline(fo)

	// 3. The old PBX recovers and stays standby.
	if err := primary.pbx.signal(syscall.SIGCONT); err != nil {
		return err
	}
	s.say("%s's PBX recovers (SIGCONT). With the default pbx.supervise.mode none, pbxha does not restart a PBX itself; with exec, pidfile or systemd supervision it restarts a hung PBX after hang_grace", primary.name)
	if err := s.waitFor(ctx, primary.name+" back as a healthy standby", func() bool {
		st := s.status(primary)
		return st.Role == "standby" && st.Health == "healthy"
	}); err != nil {
		return err
	}
	s.say("%s is a healthy standby again; %s stays primary: failback is off, so a recovered node does not take the service back", primary.name, standby.name)
	// Let the recovered node settle before asking it back: a switchover
	// target takes over at once even if it became eligible a moment ago
	// (the peer knows the request), but a calm pair makes a clearer story.
	s.pause(ctx, time.Second)

	// 4. A planned switchover moves the service back.
	swAt := time.Now()
	s.say("planned switchover to %s, asked on %s's control socket (what `pbxha switchover --to %s` does)", primary.name, standby.name, primary.name)
	res, err := standby.ctl.Switchover(ctx, primary.name, 30*time.Second, 30*time.Second, false)
	if err != nil {
		return err
	}
	newPrimary := res.Primary
	if newPrimary == "" {
		newPrimary = "unknown"
	}
	s.say("switchover to %s: %s in %.0f ms; primary %s at epoch %d", res.Target, res.Outcome, res.TookMS, newPrimary, res.Epoch)
	if res.Outcome != "done" {
		return fmt.Errorf("demo: switchover %s: %s", res.Outcome, res.Reason)
	}
	if err := s.waitFor(ctx, primary.name+" primary and the service answering", func() bool {
		return s.role(primary) == "primary" && s.role(standby) == "standby" && s.client.answeringSince(swAt)
	}); err != nil {
		return err
	}
	so, err := s.step(ctx, "switchover", swAt, "the switchover was asked", standby, primary, event.Switchover)
	if err != nil {
		return err
	}
	s.timeline(so)
	s.summary()
	return nil
}

// step waits for the takeover event of kind on to, and for the client to
// get answers after it, and collects what the summary needs.
func (s *pairStory) step(ctx context.Context, what string, ref time.Time, refText string, from, to *demoNode, kind string) (storyStep, error) {
	st := storyStep{what: what, from: from.name, to: to.name, ref: ref, refText: refText}
	if err := s.waitFor(ctx, "the "+kind+" event in "+to.name+"'s event log", func() bool {
		evs, _ := event.ReadLog(filepath.Join(to.dir, event.LogName), ref)
		for _, e := range evs {
			if e.Kind == kind {
				st.ev = e
				return true
			}
		}
		return false
	}); err != nil {
		return st, err
	}
	// Let requests sent before the takeover finished come back.
	ready := st.ev.Time
	if err := s.waitFor(ctx, "the client answered after the "+what, func() bool { return s.client.answeringSince(ready) }); err != nil {
		return st, err
	}
	st.outages = s.client.outagesSince(ref)
	s.steps = append(s.steps, st)
	return st, nil
}

// timeline prints the step's timeline: the old primary's events (probe
// failed, health, role), the new primary's takeover event with its
// timeline details, and what the client saw, in ms after ref.
func (s *pairStory) timeline(st storyStep) {
	type row struct {
		at   time.Time
		node string
		text string
	}
	rows := []row{{at: st.ref, node: "demo", text: st.refText}}
	from := s.env.node(st.from)
	evs, _ := event.ReadLog(filepath.Join(from.dir, event.LogName), st.ref)
	for _, e := range evs {
		switch e.Kind {
		case event.ProbeState, event.HealthChange, event.RoleChange:
			rows = append(rows, row{at: e.Time, node: e.Node, text: strings.TrimPrefix(e.Summary, e.Node+": ")})
		}
	}
	d := st.ev.Details
	if t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d["detected"])); err == nil {
		rows = append(rows, row{at: t, node: st.to, text: "detected: no live primary"})
		for _, k := range []struct{ key, text string }{
			{"decided_ms", fmt.Sprintf("decided: take over at epoch %v", d["epoch"])},
			{"db_promoted_ms", "database promoted"},
			{"vip_up_ms", "VIP up (" + s.env.vipText() + ")"},
			{"ready_ms", "ready: primary, " + st.what + " event raised"},
		} {
			if ms, ok := d[k.key].(float64); ok {
				rows = append(rows, row{at: t.Add(time.Duration(ms) * time.Millisecond), node: st.to, text: k.text})
			}
		}
	}
	for _, o := range st.outages {
		rows = append(rows,
			row{at: o.From, node: "client", text: "no answer via the VIP (" + o.Why + ")"},
			row{at: o.To, node: "client", text: fmt.Sprintf("answered again%s: out for %s", byWhom(o.Via), msText(o.length()))})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.at.Compare(b.at) })
	lines := []string{"", fmt.Sprintf("%s timeline, %s → %s (ms after %s):", st.what, st.from, st.to, st.refText)}
	for _, r := range rows {
		lines = append(lines, fmt.Sprintf("  %+7d ms  %-7s %s", r.at.Sub(st.ref).Milliseconds(), r.node, r.text))
	}
	if len(st.outages) == 0 {
		lines = append(lines, "  client: every request was answered")
	}
	s.out.block(append(lines, ""))
}

// summary prints what happened, step by step, with the numbers.
func (s *pairStory) summary() {
	lines := []string{"summary:"}
	for _, st := range s.steps {
		var out time.Duration
		for _, o := range st.outages {
			out += o.length()
		}
		line := fmt.Sprintf("  %-10s %s → %s at epoch %v", st.what, st.from, st.to, st.ev.Details["epoch"])
		if ms, ok := st.ev.Details["ready_ms"].(float64); ok {
			line += fmt.Sprintf(": %s ready %d ms after %s (%.0f ms after it saw no primary)",
				st.to, st.ev.Time.Sub(st.ref).Milliseconds(), st.refText, ms)
		}
		line += "; client outage " + msText(out)
		if len(st.outages) == 0 {
			line += " (no request lost)"
		}
		lines = append(lines, line)
	}
	answered, failed := s.client.counts()
	lines = append(lines, fmt.Sprintf("  client     %d requests answered, %d not (one every %s)", answered, failed, msText(clientEvery)))
	for _, n := range s.env.nodes {
		st := s.status(n)
		lines = append(lines, fmt.Sprintf("  %-10s %s, %s, epoch %d", n.name, st.Role, st.Health, epochOf(st)))
	}
	s.out.block(append(lines, ""))
}

// settled returns the primary when exactly one node is primary and the
// other standby, else nil.
func (s *pairStory) settled() *demoNode {
	a, b := s.env.nodes[0], s.env.nodes[1]
	ra, rb := s.role(a), s.role(b)
	switch {
	case ra == "primary" && rb == "standby":
		return a
	case rb == "primary" && ra == "standby":
		return b
	}
	return nil
}

func (s *pairStory) status(n *demoNode) control.Status {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := n.ctl.Status(ctx)
	if err != nil {
		return control.Status{Role: "unreachable"}
	}
	return st
}

func (s *pairStory) role(n *demoNode) string { return s.status(n).Role }

func epochOf(st control.Status) uint64 {
	if st.Pair == nil {
		return 0
	}
	return st.Pair.Epoch
}

// waitFor polls cond every 100 ms until it holds or ctx ends.
func (s *pairStory) waitFor(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if s.exited() {
			return fmt.Errorf("demo: waiting for %s: a child process exited", what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// exited reports whether a node or a test PBX has ended, which ends the story.
func (s *pairStory) exited() bool {
	for _, n := range s.env.nodes {
		for _, c := range []*child{n.proc, n.pbx} {
			if c != nil && c.exited() {
				s.say("%s (pid %d) exited: %v", c.name, c.pid(), c.err)
				return true
			}
		}
	}
	return false
}

// pause lets the reader watch a steady state.
func (s *pairStory) pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
