package test

import (
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/rawudp"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
)

// stopDaemon stops the node's pbxha with SIGTERM and waits for it to exit
// (SIGKILL after 20s).
func (n *pairNode) stopDaemon(t testing.TB) {
	t.Helper()
	done := make(chan struct{})
	go func() { n.pbxha.Wait(); close(done) }()
	if err := n.pbxha.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		n.pbxha.Process.Kill()
		<-done
		t.Fatalf("%s: pbxha did not exit within 20s of SIGTERM", n.host.Name)
	}
}

// captureHeartbeats records, in the standby's namespace, the primary's
// heartbeats on the first path until it has want of them.
func captureHeartbeats(t *testing.T, prim, stby *pairNode, want int) [][]byte {
	t.Helper()
	from, to := netip.AddrPortFrom(prim.host.IP, 7946), netip.AddrPortFrom(stby.host.IP, 7946)
	var c *rawudp.Capture
	if err := stby.host.Do(func() (err error) { c, err = rawudp.NewCapture(stby.host.Link, from, to); return err }); err != nil {
		t.Fatal(err)
	}
	// 200ms apart: want of them take want/5 seconds.
	err := testenv.Poll(time.Duration(want)*time.Second, func() (bool, string) { return c.Count() >= want, "" })
	got := c.Close()
	if err != nil {
		t.Fatalf("captured %d of the primary's heartbeats, want %d: %v", len(got), want, err)
	}
	out := make([][]byte, 0, want)
	for _, d := range got[:want] {
		out = append(out, d.Payload)
	}
	return out
}

// replayer sends recorded heartbeats from the attacker host, forged from
// the primary's heartbeat address, one every 0.9s, until they run out or
// stop is called.
type replayer struct {
	mu   sync.Mutex
	sent int
	stop chan struct{}
	done chan struct{}
}

func startReplay(t *testing.T, attacker *netns.Host, prim, stby *pairNode, recorded [][]byte) *replayer {
	t.Helper()
	from, to := netip.AddrPortFrom(prim.host.IP, 7946), netip.AddrPortFrom(stby.host.IP, 7946)
	var s *rawudp.Sender
	if err := attacker.Do(func() (err error) { s, err = rawudp.NewSender(from, to); return err }); err != nil {
		t.Fatal(err)
	}
	r := &replayer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer s.Close()
		for _, hb := range recorded {
			if err := s.Send(hb); err != nil {
				t.Errorf("replay: %v", err)
				return
			}
			r.mu.Lock()
			r.sent++
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-time.After(900 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(r.halt)
	return r
}

// count returns how many recorded heartbeats were sent.
func (r *replayer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}

// halt stops the replay and waits for it; calling it again does nothing.
func (r *replayer) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// TestHeartbeatReplay records 50 of a running pair's heartbeats (a packet
// capture on the standby's link), restarts the standby, and replays them
// one every 0.9s, forged from the primary's address by an attacker host,
// after the primary died (its link down): the standby still takes over as
// if nobody replayed anything, and its status counts the replays as stale
// (the primary died while the standby restarted: it never heard the live
// boot, so the replays are measured against each other) or as replays
// (the standby heard the live primary after its restart, later sequence
// numbers than the recording's).
func TestHeartbeatReplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		// primaryDiesFirst: the primary dies while the standby is down;
		// otherwise once the restarted standby hears it.
		primaryDiesFirst bool
		reason           string // what the replays are dropped as
	}{
		{"the primary dies while the standby restarts", true, "stale"},
		{"the primary dies after the standby restarted", false, "replay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startPairWith(t, pairOptions{extraHosts: []string{"mallory"}})
			f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
			prim := f.primary()
			stby := f.other(prim)
			recorded := captureHeartbeats(t, prim, stby, 50)

			stby.stopDaemon(t)
			if tc.primaryDiesFirst {
				if err := prim.host.LinkDown(); err != nil {
					t.Fatal(err)
				}
			}
			stby.startDaemon(t)
			restarted := time.Now()
			died := restarted
			f.wait(10*time.Second, "the restarted standby answering", func() bool { _, err := stby.status(t); return err == nil })
			if !tc.primaryDiesFirst {
				f.wait(20*time.Second, "the restarted standby hearing the primary", func() bool {
					st, err := stby.status(t)
					return err == nil && st.Role == "standby" && st.Pair.Peer.Alive
				})
				if err := prim.host.LinkDown(); err != nil {
					t.Fatal(err)
				}
				died = time.Now()
			}
			acc0, _, _ := pathCounters(t, stby)
			replay := startReplay(t, f.topo.Host("mallory"), prim, stby, recorded)

			// Without the replays the standby takes over about 3s after
			// its start (init_dead) or 1-2s after the primary died
			// (dead_after and the takeover wait); the replays kept it
			// standby for 45s before they were dropped as stale.
			f.wait(15*time.Second, "the standby primary despite the replays", func() bool {
				return stby.role(t) == "primary" && stby.holdsVIP(t)
			})
			t.Logf("%s took over %s after the primary died (%s after its restart), %d replays sent", stby.host.Name,
				time.Since(died).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond), replay.count())
			f.wait(15*time.Second, "five replays sent", func() bool { return replay.count() >= 5 })
			replay.halt()
			sent := replay.count()
			// The last one sent may be in flight still.
			var accepted uint64
			var drops map[string]uint64
			testenv.WaitForReason(t, 5*time.Second, "every replay but the last counted", func() (bool, string) {
				st, err := stby.status(t)
				if err != nil {
					return false, err.Error()
				}
				p := st.Pair.Peer.Paths[0]
				accepted, drops = p.Accepted-acc0[0], p.Drops
				return drops["stale"]+drops["replay"]+accepted >= uint64(sent-1), ""
			})
			// Primary dead first: the first replay is a new boot within the
			// skew window, accepted; every later one arrives 0.7s later than
			// the one before predicts, stale.
			maxAccepted := uint64(0)
			if tc.primaryDiesFirst {
				maxAccepted = 1
			}
			if accepted > maxAccepted || drops[tc.reason] < uint64(sent-2) {
				f.dump()
				t.Errorf("path 0 after %d replays: %d accepted, drops %v; want at most %d accepted and the others dropped as %s",
					sent, accepted, drops, maxAccepted, tc.reason)
			}
		})
	}
}
