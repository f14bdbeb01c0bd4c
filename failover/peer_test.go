package failover

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

func newTestTracker(t *testing.T, paths int) *PeerTracker {
	t.Helper()
	tr, err := NewPeerTracker(TrackerConfig{Cluster: "pbx-pair", Node: "node-b", Keys: Keys{Current: testKey}, Paths: paths, DeadAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func peerPacket(t *testing.T, seq uint64, sent time.Time, edit func(*Heartbeat)) []byte {
	t.Helper()
	h := sampleHeartbeat()
	h.Seq, h.Sent = seq, sent
	if edit != nil {
		edit(&h)
	}
	return mustEncode(t, h)
}

func TestPeerTrackerLiveness(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := newTestTracker(t, 2)
	if tr.Alive(t0) || tr.View(t0).Heard {
		t.Fatalf("got alive or heard before any heartbeat, want neither")
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i, s := range []struct {
		path int
		at   time.Duration
	}{{0, 0}, {1, 0}, {0, 200 * time.Millisecond}} {
		if _, err := tr.Receive(s.path, peerPacket(t, uint64(1+i/2), at(s.at), nil), at(s.at)); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		name             string
		now              time.Duration
		alive, p0, p1    bool
		wantHeardPath1At time.Duration
	}{
		{"both paths fresh", 500 * time.Millisecond, true, true, true, 0},
		{"path 1 silent past dead_after, path 0 still heard", 1100 * time.Millisecond, true, true, false, 0},
		{"all paths silent: peer dead", 1300 * time.Millisecond, false, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := at(tc.now)
			if got := tr.Alive(now); got != tc.alive {
				t.Errorf("got Alive %v, want %v", got, tc.alive)
			}
			if got := tr.PathAlive(0, now); got != tc.p0 {
				t.Errorf("got path 0 alive %v, want %v", got, tc.p0)
			}
			if got := tr.PathAlive(1, now); got != tc.p1 {
				t.Errorf("got path 1 alive %v, want %v", got, tc.p1)
			}
			ps := tr.Paths(now)
			if len(ps) != 2 || ps[0].Alive != tc.p0 || ps[1].Alive != tc.p1 || !ps[1].LastHeard.Equal(at(tc.wantHeardPath1At)) {
				t.Errorf("got paths %+v, want alive %v/%v, path 1 last heard %v", ps, tc.p0, tc.p1, at(tc.wantHeardPath1At))
			}
			v := tr.View(now)
			if v.Alive != tc.alive || !v.Heard || v.Seq != 2 || v.Epoch != 7 || v.Role != RolePrimary || v.WAL != sampleHeartbeat().WAL {
				t.Errorf("got view %+v, want the last heartbeat (seq 2) kept, alive %v", v, tc.alive)
			}
		})
	}
	if tr.PathAlive(5, t0) || tr.PathAlive(-1, t0) {
		t.Errorf("got an out-of-range path alive, want false")
	}
}

func TestPeerTrackerDrops(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := newTestTracker(t, 1)
	good := peerPacket(t, 10, t0, nil)
	if _, err := tr.Receive(0, good, t0); err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(good)
	forged[len(forged)-40] ^= 4
	otherKey := bytes.Repeat([]byte{1}, 32)
	foreignCluster := sampleHeartbeat()
	foreignCluster.Cluster = "elsewhere"
	fc, _ := Encode(testKey, foreignCluster)
	signedByOther, _ := Encode(otherKey, sampleHeartbeat())
	for _, tc := range []struct {
		name   string
		b      []byte
		path   int
		reason string
		want   error
	}{
		{"replayed", good, 0, "replay", ErrReplay},
		{"forged", forged, 0, "bad_mac", ErrBadMAC},
		{"another key", signedByOther, 0, "bad_mac", ErrBadMAC},
		{"truncated", good[:20], 0, "truncated", ErrTruncated},
		{"foreign cluster", fc, 0, "cluster", ErrCluster},
		{"garbage", []byte("hello"), 0, "truncated", ErrTruncated},
		{"own name", peerPacket(t, 11, t0, func(h *Heartbeat) { h.Node = "node-b" }), 0, "self", ErrSelf},
		{"third node while the peer lives", peerPacket(t, 12, t0, func(h *Heartbeat) { h.Node = "node-c" }), 0, "malformed", ErrMalformed},
		{"stale boot", peerPacket(t, 1, t0.Add(-time.Hour), func(h *Heartbeat) { h.Boot = BootID{9} }), 0, "stale", ErrStale},
		{"bad path", peerPacket(t, 13, t0, nil), 3, "path", ErrPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := tr.Counters()
			_, err := tr.Receive(tc.path, tc.b, t0.Add(100*time.Millisecond))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			accepted, after := tr.Counters()
			if after[tc.reason] != before[tc.reason]+1 {
				t.Errorf("got %s count %d, want %d", tc.reason, after[tc.reason], before[tc.reason]+1)
			}
			if accepted != 1 {
				t.Errorf("got %d accepted, want 1", accepted)
			}
			if v := tr.View(t0); v.Seq != 10 || v.Node != "node-a" {
				t.Errorf("got view seq %d node %q after a dropped packet, want seq 10 from node-a", v.Seq, v.Node)
			}
		})
	}
	// A renamed peer is accepted once the old name has gone silent.
	later := t0.Add(2 * time.Second)
	renamed := peerPacket(t, 1, later, func(h *Heartbeat) { h.Node = "node-c"; h.Boot = BootID{7} })
	if _, err := tr.Receive(0, renamed, later); err != nil {
		t.Errorf("got %v for a renamed peer after the old one died, want accepted", err)
	}
}

func TestPeerTrackerHealthySince(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := newTestTracker(t, 1)
	seq := uint64(0)
	send := func(at time.Duration, h probe.Health, boot BootID) {
		t.Helper()
		seq++
		now := t0.Add(at)
		if _, err := tr.Receive(0, peerPacket(t, seq, now, func(hb *Heartbeat) { hb.Health, hb.Boot = h, boot }), now); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want time.Duration, zero bool) {
		t.Helper()
		got := tr.View(t0).HealthySince
		if zero != got.IsZero() || (!zero && !got.Equal(t0.Add(want))) {
			t.Fatalf("got HealthySince %v, want zero=%v at +%s", got, zero, want)
		}
	}
	b1, b2 := BootID{1}, BootID{2}
	send(0, probe.HealthUnknown, b1)
	check(0, true)
	send(500*time.Millisecond, probe.Healthy, b1)
	check(500*time.Millisecond, false)
	send(time.Second, probe.Healthy, b1)
	check(500*time.Millisecond, false)
	send(1500*time.Millisecond, probe.HealthDegraded, b1)
	check(0, true)
	send(2*time.Second, probe.Healthy, b1)
	check(2*time.Second, false)
	// Silent for dead_after and heard again: health heard before the
	// silence no longer counts (a failback counts from the return).
	send(4*time.Second, probe.Healthy, b1)
	check(4*time.Second, false)
	seq = 0
	send(4500*time.Millisecond, probe.Healthy, b2) // restarted: healthy again from now
	check(4500*time.Millisecond, false)
}

func TestNewPeerTrackerRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  TrackerConfig
	}{
		{"no paths", TrackerConfig{Cluster: "c", Node: "n", Keys: Keys{Current: testKey}}},
		{"short key", TrackerConfig{Cluster: "c", Node: "n", Keys: Keys{Current: testKey[:4]}, Paths: 1}},
		{"no node", TrackerConfig{Cluster: "c", Keys: Keys{Current: testKey}, Paths: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPeerTracker(tc.cfg); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// TestPeerTrackerDelayed: heartbeats arriving later than the peer's usual
// delay by more than half of dead_after are dropped as stale — a replay of
// recorded heartbeats, one every 0.9s, no longer keeps a dead peer alive,
// whether the tracker knew the peer before or just started.
func TestPeerTrackerDelayed(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const flight = 10 * time.Millisecond
	replay := func(t *testing.T, tr *PeerTracker, first uint64, recorded, played time.Time) (accepted int) {
		for k := range 50 {
			sent := recorded.Add(time.Duration(k) * 200 * time.Millisecond)
			at := played.Add(time.Duration(k) * 900 * time.Millisecond)
			_, err := tr.Receive(0, peerPacket(t, first+uint64(k), sent, nil), at)
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, ErrStale):
				t.Fatalf("replay %d: got %v, want accepted or %v", k, err, ErrStale)
			}
		}
		return accepted
	}
	t.Run("known peer", func(t *testing.T) {
		tr := newTestTracker(t, 1)
		for k := range 5 {
			sent := t0.Add(time.Duration(k) * 200 * time.Millisecond)
			if _, err := tr.Receive(0, peerPacket(t, uint64(k+1), sent, nil), sent.Add(flight)); err != nil {
				t.Fatalf("live heartbeat %d: %v", k, err)
			}
		}
		if got := tr.View(t0).ClockOffset; got != -flight {
			t.Errorf("clock offset: got %s, want %s", got, -flight)
		}
		if n := replay(t, tr, 6, t0.Add(time.Second), t0.Add(2*time.Second)); n != 0 {
			t.Errorf("accepted %d replayed heartbeats, want none", n)
		}
		if _, drops := tr.Counters(); drops["stale"] != 50 {
			t.Errorf("stale drops: got %d, want 50", drops["stale"])
		}
	})
	t.Run("tracker just started", func(t *testing.T) {
		tr := newTestTracker(t, 1)
		if n := replay(t, tr, 1, t0, t0.Add(5*time.Second)); n != 1 {
			t.Errorf("accepted %d replayed heartbeats, want only the first", n)
		}
		if tr.Alive(t0.Add(5*time.Second + 3*time.Second)) {
			t.Error("the replayed peer is alive 3s after the first replay, want dead")
		}
	})
	t.Run("slow path within the tolerance", func(t *testing.T) {
		tr := newTestTracker(t, 1)
		for k := range 20 {
			sent := t0.Add(time.Duration(k) * 200 * time.Millisecond)
			jitter := time.Duration(k%4) * 100 * time.Millisecond // up to 300ms late
			if _, err := tr.Receive(0, peerPacket(t, uint64(k+1), sent, nil), sent.Add(flight+jitter)); err != nil {
				t.Fatalf("heartbeat %d, %s late: got %v, want accepted", k, jitter, err)
			}
		}
	})
}

// TestPeerTrackerClockStep: when the peer's clock steps (NTP correcting a
// clock that ran ahead or behind), its heartbeats go on being accepted and
// the peer never counts as dead, while a slow replay after such a step is
// still stale.
func TestPeerTrackerClockStep(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const flight = 10 * time.Millisecond
	for _, tc := range []struct {
		name      string
		step      time.Duration
		maxDrops  uint64
		wantDrops uint64
		offset    time.Duration // measured after the step
	}{
		{"back 1s", -time.Second, 1, 1, -time.Second - flight},
		{"back 40s", -40 * time.Second, 1, 1, -40*time.Second - flight},
		// Within the tolerance the estimate, the largest offset of the last
		// 30 to 60s, learns the step only once it has forgotten the old.
		{"back 300ms, within the tolerance", -300 * time.Millisecond, 0, 0, -flight},
		{"forward 1s", time.Second, 0, 0, time.Second - flight},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTracker(t, 2)
			seq := uint64(0)
			for k := range 100 {
				now := t0.Add(time.Duration(k) * 200 * time.Millisecond)
				sent := now.Add(-flight)
				if k >= 20 {
					sent = sent.Add(tc.step)
				}
				seq++
				for path := range 2 {
					tr.Receive(path, peerPacket(t, seq, sent, nil), now.Add(time.Duration(path)*time.Millisecond))
				}
				if !tr.Alive(now) {
					t.Fatalf("heartbeat %d: the peer is dead, want alive through the step", k)
				}
			}
			_, drops := tr.Counters()
			// One heartbeat is dropped on each path before the step is
			// seen; its copy on the second path is no news either.
			if got := drops["stale"]; got > 2*tc.maxDrops || got < tc.wantDrops {
				t.Errorf("stale drops: got %d, want %d to %d", got, tc.wantDrops, 2*tc.maxDrops)
			}
			if off := tr.View(t0).ClockOffset; off != tc.offset {
				t.Errorf("clock offset after the step: got %s, want %s", off, tc.offset)
			}
			// A replay of what was heard, played slower than recorded.
			base := t0.Add(20 * time.Second)
			accepted := 0
			for k := range 10 {
				seq++
				if _, err := tr.Receive(0, peerPacket(t, seq, base.Add(tc.step+time.Duration(k)*200*time.Millisecond), nil), base.Add(5*time.Second+time.Duration(k)*900*time.Millisecond)); err == nil {
					accepted++
				}
			}
			if accepted > 0 {
				t.Errorf("a slow replay after the step: %d of 10 accepted, want none", accepted)
			}
		})
	}
}

// TestPeerTrackerKeys: a heartbeat signed with the current or the next key
// is accepted, one with neither key is a bad MAC, and SetKeys swaps them.
func TestPeerTrackerKeys(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	next := bytes.Repeat([]byte{0x6b}, MinKeySize)
	third := bytes.Repeat([]byte{0x7c}, MinKeySize)
	tr, err := NewPeerTracker(TrackerConfig{Cluster: "pbx-pair", Node: "node-b", Keys: Keys{Current: testKey, Next: next}, Paths: 1})
	if err != nil {
		t.Fatal(err)
	}
	signed := func(seq uint64, key []byte) []byte {
		h := sampleHeartbeat()
		h.Seq, h.Sent = seq, t0
		b, err := Encode(key, h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		seq  uint64
		key  []byte
		want error
	}{
		{"current key", 1, testKey, nil},
		{"next key", 2, next, nil},
		{"another key", 3, third, ErrBadMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Receive(0, signed(tc.seq, tc.key), t0)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := tr.SetKeys(Keys{Current: third}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Receive(0, signed(100, testKey), t0); !errors.Is(err, ErrBadMAC) {
		t.Errorf("old key after SetKeys: got %v, want %v", err, ErrBadMAC)
	}
	if _, err := tr.Receive(0, signed(101, third), t0); err != nil {
		t.Errorf("new key after SetKeys: got %v, want accepted", err)
	}
	if err := tr.SetKeys(Keys{Current: third, Next: []byte("short")}); err == nil {
		t.Error("SetKeys with a short next key: got nil, want an error")
	}
	ps := tr.Paths(t0)
	if ps[0].Accepted != 3 || ps[0].Drops["bad_mac"] != 2 {
		t.Errorf("path 0: got %d accepted, %v dropped; want 3 and 2 bad_mac", ps[0].Accepted, ps[0].Drops)
	}
}

// BenchmarkAdmit measures what one forged packet costs the reader that
// filters it (PeerTracker.Admit), per kind a flood sends: 1024 bytes of
// garbage after the magic, a heartbeat with a wrong MAC (checked against
// the current key only, and against both keys during a key change), and a
// replay of an accepted heartbeat.
func BenchmarkAdmit(b *testing.B) {
	garbage := bytes.Repeat([]byte{0x42}, MaxPacket)
	copy(garbage, magic[:])
	h := sampleHeartbeat()
	h.Seq, h.Sent = 1, time.Now()
	otherKey := bytes.Repeat([]byte{0x17}, MinKeySize)
	badMAC, err := Encode(otherKey, h)
	if err != nil {
		b.Fatal(err)
	}
	good := mustEncode(b, h)
	for _, tc := range []struct {
		name   string
		keys   Keys
		packet []byte
	}{
		{"garbage", Keys{Current: testKey}, garbage},
		{"bad_mac", Keys{Current: testKey}, badMAC},
		{"bad_mac_two_keys", Keys{Current: testKey, Next: bytes.Repeat([]byte{0x33}, MinKeySize)}, badMAC},
		{"replay", Keys{Current: testKey}, good},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr, err := NewPeerTracker(TrackerConfig{Cluster: "pbx-pair", Node: "node-b", Keys: tc.keys, Paths: 1})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Receive(0, good, h.Sent); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if tr.Admit(0, tc.packet) == nil {
					b.Fatal("admitted a forged packet")
				}
			}
		})
	}
}
