package pair_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/act/acttest"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/pair"
	"github.com/pbxha/pbxha/probe"
)

// side is one running Pair on loopback with faked resources.
type side struct {
	p     *pair.Pair
	world *acttest.World
	stop  context.CancelFunc
	done  chan struct{}
}

func startSide(t *testing.T, name, peer string, local, remote netip.AddrPort, tb string) *side {
	t.Helper()
	pol := failover.DefaultPolicy()
	pol.InitDead, pol.DeadAfter, pol.PreferredNode = 500*time.Millisecond, 250*time.Millisecond, "node-a"
	w := acttest.New(nil)
	res := w.Resources()
	res.VIP = nil // the VIP fake is unused: the pair takes its VIP from Config.VIP
	ok := []probe.CheckState{{Name: "sip", Kind: probe.KindSIP, Critical: true, State: probe.OK}}
	p, err := pair.New(pair.Config{
		Cluster: "pair", Node: name, Keys: failover.Keys{Current: []byte("0123456789abcdef0123456789abcdef")},
		Paths:    []failover.Path{{Local: local, Peer: remote}},
		Interval: 50 * time.Millisecond, DeadAfter: pol.DeadAfter, Policy: pol, StateDir: t.TempDir(),
		TieBreakers: []string{tb}, Resources: res, LeaveTimeout: 5 * time.Second,
		States: func() []probe.CheckState { return ok }, Checks: func() []probe.Check { return nil },
		Maintenance: func() bool { return false }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := &side{p: p, world: w, stop: cancel, done: make(chan struct{})}
	go func() { p.Run(ctx); close(s.done) }()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

func role(s *side) string { r, _ := s.p.Status(); return r }

// TestPairOnLoopback runs two Pairs over real UDP on loopback with faked
// resources: they form (node-a, preferred, takes the resources in order),
// the status renders both sides, a switchover moves the service, and a
// primary that stops hands over at once.
func TestPairOnLoopback(t *testing.T) {
	tb := testenv.TieBreaker(t)
	a, b := netip.MustParseAddrPort(testenv.FreeAddr(t)), netip.MustParseAddrPort(testenv.FreeAddr(t))
	na := startSide(t, "node-a", "node-b", a, b, tb)
	nb := startSide(t, "node-b", "node-a", b, a, tb)
	testenv.WaitFor(t, 10*time.Second, "node-a primary, node-b standby", func() bool {
		return role(na) == "primary" && role(nb) == "standby"
	})
	if got := strings.Join(na.world.Ops(), " "); got != "db.promote pbx.ensure_running commands.send hooks.takeover" {
		t.Errorf("node-a's takeover: got %q, want the resources in order", got)
	}
	_, st := nb.p.Status()
	if st.Epoch != 1 || !st.Peer.Alive || st.Peer.Node != "node-a" || st.Peer.Role != "primary" || len(st.Peer.Paths) != 1 || !st.Peer.Paths[0].Alive {
		t.Errorf("node-b's status %+v, want epoch 1 and node-a alive primary on its one path", st)
	}
	// The cluster view: node-b first as it knows itself, node-a as its
	// heartbeats tell.
	if n := st.Nodes; len(n) != 2 || !n[0].Self || n[0].Node != "node-b" || n[0].Role != "standby" || n[0].Probes != "1 ok" ||
		n[1].Self || n[1].Node != "node-a" || n[1].Role != "primary" || n[1].Health != "healthy" || n[1].Epoch != 1 || n[1].LastHeard == nil || n[1].Probes != "1 ok" {
		t.Errorf("node-b's cluster view %+v, want itself standby then node-a primary, healthy, epoch 1, heard, 1 ok", st.Nodes)
	}

	res, err := nb.p.Switchover(t.Context(), "node-b", 0, false)
	if err != nil || res.Outcome != "done" || res.Primary != "node-b" {
		t.Fatalf("switchover: got %+v, %v; want done, node-b primary", res, err)
	}
	testenv.WaitFor(t, 5*time.Second, "node-a standby", func() bool { return role(na) == "standby" })

	stopped := time.Now()
	nb.stop()
	<-nb.done
	testenv.WaitFor(t, 5*time.Second, "node-a primary again", func() bool { return role(na) == "primary" })
	if d := time.Since(stopped); d > 2*time.Second {
		t.Errorf("node-a took over %s after node-b stopped, want at once (node-b handed over)", d)
	}
	if nb.world.Writable() {
		t.Error("the stopped node-b's database is still writable, want released")
	}
}
