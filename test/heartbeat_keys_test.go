package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/vishvananda/netlink"
)

// vipHeld reports whether the VIP is on the node's interface, asking the
// kernel over netlink from a thread in the node's namespace: fast enough
// to poll every 50ms.
func (n *pairNode) vipHeld(t testing.TB) bool {
	held := false
	err := n.host.Do(func() error {
		link, err := netlink.LinkByName(n.host.Link)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		for _, a := range addrs {
			held = held || a.IP.String() == pairVIP
		}
		return err
	})
	if err != nil {
		t.Errorf("%s: addresses: %v", n.host.Name, err)
	}
	return held
}

// reload rewrites the node's config file from n.conf, sends pbxha SIGHUP
// and waits until the reload is applied.
func (n *pairNode) reload(t testing.TB) {
	t.Helper()
	before, err := n.status(t)
	if err != nil {
		t.Fatalf("%s: status: %v", n.host.Name, err)
	}
	n.writeConf(t)
	if err := n.pbxha.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitForReason(t, 10*time.Second, n.host.Name+" reloaded", func() (bool, string) {
		st, err := n.status(t)
		if err != nil {
			return false, err.Error()
		}
		if st.Config.LastReloadError != "" {
			t.Fatalf("%s: reload refused: %s", n.host.Name, st.Config.LastReloadError)
		}
		return st.Config.LoadedAt.After(before.Config.LoadedAt), "loaded at " + st.Config.LoadedAt.String()
	})
	if strings.Contains(n.logs(), "heartbeat keys not reloaded") {
		t.Fatalf("%s: the keys were not reloaded:\n%s", n.host.Name, lastLines(n.logs(), 20))
	}
}

// eventsCLI returns the node's events of one kind as pbxha events --json prints them.
func (n *pairNode) eventsCLI(t testing.TB, kind string) []map[string]any {
	t.Helper()
	out, err := exec.Command(n.pbxhaBin, "events", "-c", n.cfgPath, "--kind", kind, "--json").Output()
	if err != nil {
		t.Fatalf("%s: pbxha events: %v\n%s", n.host.Name, err, out)
	}
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: pbxha events: %v in %q", n.host.Name, err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// pairWatch polls both nodes every 50ms, in the background, and remembers
// every look at which the pair was not as it should stay: prim the only
// primary and VIP holder, the other node standby, and (with peers) each
// node hearing the other.
type pairWatch struct {
	f          *pairFixture
	prim, stby *pairNode
	peers      bool

	mu     sync.Mutex
	looks  int
	broken []string
	stop   chan struct{}
	done   chan struct{}
}

func watchPair(t *testing.T, f *pairFixture, prim, stby *pairNode, peers bool) *pairWatch {
	w := &pairWatch{f: f, prim: prim, stby: stby, peers: peers, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
			w.look(t)
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *pairWatch) look(t *testing.T) {
	var bad []string
	ps, perr := w.prim.status(t)
	ss, serr := w.stby.status(t)
	primVIP, stbyVIP := w.prim.vipHeld(t), w.stby.vipHeld(t)
	switch {
	case perr != nil || serr != nil:
		bad = append(bad, fmt.Sprintf("status: %v, %v", perr, serr))
	default:
		if ps.Role != "primary" || ss.Role != "standby" {
			bad = append(bad, fmt.Sprintf("roles %s %s, %s %s", w.prim.host.Name, ps.Role, w.stby.host.Name, ss.Role))
		}
		if w.peers && (!ps.Pair.Peer.Alive || !ss.Pair.Peer.Alive) {
			bad = append(bad, fmt.Sprintf("peer alive to %s %v, to %s %v", w.prim.host.Name, ps.Pair.Peer.Alive, w.stby.host.Name, ss.Pair.Peer.Alive))
		}
	}
	if !primVIP || stbyVIP {
		bad = append(bad, fmt.Sprintf("VIP on %s %v, on %s %v", w.prim.host.Name, primVIP, w.stby.host.Name, stbyVIP))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.looks++
	if len(bad) > 0 {
		w.broken = append(w.broken, time.Now().Format("15:04:05.000")+" "+strings.Join(bad, "; "))
	}
}

// end stops the watch; it may be called more than once.
func (w *pairWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check fails the test if a look found the pair broken.
func (w *pairWatch) check(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.broken) > 0 {
		w.f.dump()
		t.Fatalf("%s: the pair was broken at %d of %d looks, first: %s", what, len(w.broken), w.looks, strings.Join(w.broken[:min(len(w.broken), 5)], " | "))
	}
	t.Logf("%s: the pair held at all %d looks", what, w.looks)
}

// keyFileFor writes key (a key file's text) into the node's directory
// under name, mode 0600, as an operator copies a key to each node.
func keyFileFor(t *testing.T, n *pairNode, name string, key []byte) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(n.cfgPath), name)
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readKey returns a key file's text.
func readKey(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badMACs returns the bad-MAC drops on a node's first path.
func badMACs(t *testing.T, n *pairNode) uint64 {
	t.Helper()
	_, drops, _ := pathCounters(t, n)
	return drops[0]["bad_mac"]
}

// TestHeartbeatKeyChange runs the key change of docs/pair.md ("Changing
// the key") on a running pair in network namespaces, with SIGHUPs to the
// real daemons: polled every 50ms, the pair never has two primaries or two
// VIP holders, never changes roles and never loses the peer, and no
// heartbeat fails the MAC. With different keys and no next key — one node
// changed its key alone — the pair raises heartbeat_auth_failed, status
// shows the bad-MAC drops, and neither node takes over while packets from
// its peer's address fail the MAC; a pair that starts with different keys
// gets no primary at all rather than two.
func TestHeartbeatKeyChange(t *testing.T) {
	t.Run("the documented key change", func(t *testing.T) {
		f := startPair(t, "")
		f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
		prim := f.primary()
		stby := f.other(prim)
		// Each node gets its own copy of the old key and, for the change,
		// of a new one (pbxha keygen on one node, copied to the other).
		newKey := readKey(t, newPairKey(t))
		oldKey := readKey(t, prim.conf.keyFile)
		for _, n := range f.nodes {
			n.conf.keyFile = keyFileFor(t, n, "pbxha.key", oldKey)
			n.reload(t)
		}
		w := watchPair(t, f, prim, stby, true)
		steps := []struct {
			name string
			conf func(n *pairNode) nodeConf
		}{
			{"1: the new key as next_key_file on both nodes", func(n *pairNode) nodeConf {
				return nodeConf{keyFile: n.conf.keyFile, nextKeyFile: keyFileFor(t, n, "pbxha.key.new", newKey)}
			}},
			{"2: the new key current, the old one next", func(n *pairNode) nodeConf {
				return nodeConf{keyFile: n.conf.nextKeyFile, nextKeyFile: n.conf.keyFile}
			}},
			{"3: next_key_file removed", func(n *pairNode) nodeConf {
				return nodeConf{keyFile: n.conf.keyFile}
			}},
		}
		for _, s := range steps {
			// One node, then the other, each given longer than dead_after
			// to show a loss of the peer (or a takeover) before the next.
			for _, n := range []*pairNode{stby, prim} {
				n.conf = s.conf(n)
				n.reload(t)
				time.Sleep(2 * failover.DefaultDeadAfter) // the watch looks meanwhile; nothing to wait for
			}
		}
		w.end()
		w.check(t, "the key change")
		for _, n := range f.nodes {
			if got := badMACs(t, n); got != 0 {
				t.Errorf("%s: %d heartbeats failed the MAC during the key change, want none", n.host.Name, got)
			}
			if evs := n.eventsCLI(t, "heartbeat_auth_failed"); len(evs) != 0 {
				t.Errorf("%s: heartbeat_auth_failed raised during the key change: %v", n.host.Name, evs)
			}
		}
		for _, n := range f.nodes {
			if filepath.Base(n.conf.keyFile) != "pbxha.key.new" || n.conf.nextKeyFile != "" {
				t.Errorf("%s ends with %+v, want only the new key", n.host.Name, n.conf)
			}
		}
	})

	t.Run("one node changed its key alone", func(t *testing.T) {
		f := startPair(t, "")
		f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
		prim := f.primary()
		stby := f.other(prim)
		for _, changed := range []*pairNode{stby, prim} {
			t.Logf("%s takes another key", changed.host.Name)
			old := changed.conf
			changed.conf = nodeConf{keyFile: keyFileFor(t, changed, "other.key", readKey(t, newPairKey(t)))}
			w := watchPair(t, f, prim, stby, false)
			changed.reload(t)
			// dead_after, the takeover wait and the eligibility hold are
			// over within 3s at the defaults; give them twice that.
			testenv.WaitForReason(t, 10*time.Second, "both nodes dropping bad MACs and the standby saying why it waits", func() (bool, string) {
				st, err := stby.status(t)
				if err != nil {
					return false, err.Error()
				}
				return badMACs(t, prim) > 0 && badMACs(t, stby) > 0 && strings.Contains(st.Pair.Reason, "fail the MAC"), st.Pair.Reason
			})
			time.Sleep(6 * time.Second) // the watch looks meanwhile: nobody may take over
			w.end()
			w.check(t, changed.host.Name+" with another key")
			for _, n := range f.nodes {
				evs := n.eventsCLI(t, "heartbeat_auth_failed")
				if len(evs) == 0 || evs[0]["severity"] != "critical" {
					t.Errorf("%s: heartbeat_auth_failed events %v, want a critical one", n.host.Name, evs)
				}
				if st, err := n.status(t); err != nil || st.Pair.Peer.Alive {
					t.Errorf("%s: peer alive %v (%v), want dead: nothing it receives passes the MAC", n.host.Name, st.Pair != nil && st.Pair.Peer.Alive, err)
				}
			}
			// The key put back, the nodes hear each other again.
			changed.conf = old
			changed.reload(t)
			f.wait(10*time.Second, "both nodes hearing each other again", func() bool {
				for _, n := range f.nodes {
					if st, err := n.status(t); err != nil || !st.Pair.Peer.Alive {
						return false
					}
				}
				return true
			})
		}
	})

	t.Run("started with different keys", func(t *testing.T) {
		f := startPairWith(t, pairOptions{n2Key: newPairKey(t)})
		// init_dead (3s), then the eligibility hold: well past both.
		time.Sleep(8 * time.Second) // nothing to wait for: the pair must stay without a primary
		for _, n := range f.nodes {
			st, err := n.status(t)
			if err != nil {
				t.Fatal(err)
			}
			if st.Role == "primary" || n.vipHeld(t) {
				f.dump()
				t.Fatalf("%s: role %s, VIP held %v; want no primary while the keys differ", n.host.Name, st.Role, n.vipHeld(t))
			}
			if !strings.Contains(st.Pair.Reason, "fail the MAC") || badMACs(t, n) == 0 {
				t.Errorf("%s: reason %q, bad MACs %d; want the key mismatch named and counted", n.host.Name, st.Pair.Reason, badMACs(t, n))
			}
		}
	})
}
