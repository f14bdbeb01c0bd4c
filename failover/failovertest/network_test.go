package failovertest

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
)

type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time { return c.t }

func drain(e *Endpoint) []failover.Packet {
	var got []failover.Packet
	for {
		select {
		case p := <-e.Recv():
			got = append(got, p)
		default:
			return got
		}
	}
}

func TestNetworkPaths(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(n *Network)
		from      int
		wantPaths []int
	}{
		{"all connected", func(n *Network) {}, 0, []int{0, 1}},
		{"path 1 cut", func(n *Network) { n.Disconnect(1) }, 0, []int{0}},
		{"partitioned", func(n *Network) { n.Partition() }, 1, nil},
		{"healed", func(n *Network) { n.Partition(); n.Heal() }, 1, []int{0, 1}},
		{"reconnected", func(n *Network) { n.Disconnect(0); n.Connect(0) }, 0, []int{0, 1}},
		{"one-way block, blocked side", func(n *Network) { n.Block(0, 0) }, 0, []int{1}},
		{"one-way block, other side", func(n *Network) { n.Block(0, 0) }, 1, []int{0, 1}},
		{"drop rate 1", func(n *Network) { n.SetDropRate(0, 1) }, 0, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &manualClock{t: time.Unix(1000, 0)}
			n := NewNetwork(1, 2, c.now)
			tc.setup(n)
			if err := n.Endpoint(tc.from).Send([]byte("hb")); err != nil {
				t.Fatal(err)
			}
			got := drain(n.Endpoint(1 - tc.from))
			if len(got) != len(tc.wantPaths) {
				t.Fatalf("got %d packets %v, want paths %v", len(got), got, tc.wantPaths)
			}
			for i, p := range got {
				if p.Path != tc.wantPaths[i] || string(p.Data) != "hb" {
					t.Errorf("got packet %d on path %d %q, want path %d \"hb\"", i, p.Path, p.Data, tc.wantPaths[i])
				}
			}
			if own := drain(n.Endpoint(tc.from)); len(own) != 0 {
				t.Errorf("got %d packets back at the sender, want none", len(own))
			}
		})
	}
}

func TestNetworkDropRateIsSeeded(t *testing.T) {
	run := func(seed uint64) (lost uint64, pattern []int) {
		c := &manualClock{t: time.Unix(1000, 0)}
		n := NewNetwork(seed, 1, c.now)
		n.SetDropRate(0, 0.3)
		for range 1000 {
			n.Endpoint(0).Send([]byte{1})
			pattern = append(pattern, len(drain(n.Endpoint(1))))
		}
		return n.Endpoint(0).Stats().Lost, pattern
	}
	lost, p1 := run(42)
	if lost < 200 || lost > 400 {
		t.Errorf("got %d of 1000 lost at rate 0.3, want 200..400", lost)
	}
	_, p2 := run(42)
	_, p3 := run(43)
	if !equalInts(p1, p2) {
		t.Errorf("got different loss patterns for the same seed, want identical")
	}
	if equalInts(p1, p3) {
		t.Errorf("got identical loss patterns for seeds 42 and 43, want different")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNetworkDelay(t *testing.T) {
	c := &manualClock{t: time.Unix(1000, 0)}
	n := NewNetwork(1, 2, c.now)
	n.SetDelay(1, 50*time.Millisecond)
	n.Endpoint(0).Send([]byte("a"))
	if got := drain(n.Endpoint(1)); len(got) != 1 || got[0].Path != 0 {
		t.Fatalf("got %v at once, want only the undelayed path 0 packet", got)
	}
	c.t = c.t.Add(49 * time.Millisecond)
	if d := n.Deliver(); d != 0 {
		t.Fatalf("got %d delivered before the delay, want 0", d)
	}
	c.t = c.t.Add(time.Millisecond)
	if d := n.Deliver(); d != 1 {
		t.Fatalf("got %d delivered at the delay, want 1", d)
	}
	if got := drain(n.Endpoint(1)); len(got) != 1 || got[0].Path != 1 || string(got[0].Data) != "a" {
		t.Fatalf("got %v, want the path 1 packet", got)
	}
}

func TestEndpointClose(t *testing.T) {
	c := &manualClock{t: time.Unix(1000, 0)}
	n := NewNetwork(1, 1, c.now)
	n.Endpoint(1).Close()
	if err := n.Endpoint(0).Send([]byte("x")); err != nil {
		t.Fatalf("got %v sending to a closed peer, want nil (lost in flight)", err)
	}
	if _, ok := <-n.Endpoint(1).Recv(); ok {
		t.Fatalf("got a packet from a closed endpoint, want a closed channel")
	}
	if err := n.Endpoint(1).Send([]byte("x")); err == nil {
		t.Fatalf("got no error sending from a closed endpoint, want one")
	}
	n.Endpoint(1).Close() // twice is fine
}

func TestEndpointOverflow(t *testing.T) {
	c := &manualClock{t: time.Unix(1000, 0)}
	n := NewNetwork(1, 1, c.now)
	for range recvQueue + 10 {
		n.Endpoint(0).Send([]byte("x"))
	}
	if s := n.Endpoint(1).Stats(); s.Delivered != recvQueue || s.Overflow != 10 {
		t.Errorf("got delivered %d overflow %d, want %d and 10", s.Delivered, s.Overflow, recvQueue)
	}
}
