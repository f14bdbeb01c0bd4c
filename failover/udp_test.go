package failover

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func listenLoopback(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ip+":0")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// udpPair returns two transports joined by two loopback paths
// (127.0.0.1 and 127.0.0.2).
func udpPair(t *testing.T) (a, b *UDPTransport) {
	t.Helper()
	a0, a1 := listenLoopback(t, "127.0.0.1"), listenLoopback(t, "127.0.0.2")
	b0, b1 := listenLoopback(t, "127.0.0.1"), listenLoopback(t, "127.0.0.2")
	a, err := NewUDP([]*net.UDPConn{a0, a1}, []netip.AddrPort{addrOf(b0), addrOf(b1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = NewUDP([]*net.UDPConn{b0, b1}, []netip.AddrPort{addrOf(a0), addrOf(a1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func recvWithin(t *testing.T, tr *UDPTransport, d time.Duration) Packet {
	t.Helper()
	select {
	case p, ok := <-tr.Recv():
		if !ok {
			t.Fatalf("got the receive channel closed, want a packet")
		}
		return p
	case <-time.After(d):
		t.Fatalf("got no packet within %s, want one", d)
	}
	return Packet{}
}

func TestUDPTransportExchange(t *testing.T) {
	a, b := udpPair(t)
	hb := mustEncode(t, sampleHeartbeat())
	if err := a.Send(hb); err != nil {
		t.Fatalf("Send: %v", err)
	}
	seen := map[int]bool{}
	for range 2 {
		p := recvWithin(t, b, 5*time.Second)
		if !bytes.Equal(p.Data, hb) {
			t.Errorf("got %x on path %d, want the heartbeat", p.Data, p.Path)
		}
		seen[p.Path] = true
	}
	if !seen[0] || !seen[1] {
		t.Errorf("got packets on paths %v, want 0 and 1", seen)
	}
	if s := a.Stats(); s[0].Sent != 1 || s[1].Sent != 1 {
		t.Errorf("got sender stats %+v, want one sent per path", s)
	}
	if s := b.Stats(); s[0].Received != 1 || s[1].Received != 1 {
		t.Errorf("got receiver stats %+v, want one received per path", s)
	}
}

func TestUDPTransportDrops(t *testing.T) {
	hb := mustEncode(t, sampleHeartbeat())
	oversize := append(append([]byte{}, magic[:]...), make([]byte, MaxPacket)...)
	for _, tc := range []struct {
		name string
		send func(t *testing.T, a, b *UDPTransport)
		want func(s PathStats) bool
	}{
		{"foreign source", func(t *testing.T, a, b *UDPTransport) {
			stranger := listenLoopback(t, "127.0.0.1")
			defer stranger.Close()
			if _, err := stranger.WriteToUDPAddrPort(hb, b.LocalAddr(0)); err != nil {
				t.Fatal(err)
			}
		}, func(s PathStats) bool { return s.Foreign == 1 && s.Garbage == 0 }},
		{"garbage from the peer", func(t *testing.T, a, b *UDPTransport) {
			a.Send([]byte("INVITE sip:x SIP/2.0\r\n"))
		}, func(s PathStats) bool { return s.Garbage == 1 && s.Foreign == 0 }},
		{"short from the peer", func(t *testing.T, a, b *UDPTransport) {
			a.Send([]byte("PBH"))
		}, func(s PathStats) bool { return s.Garbage == 1 }},
		{"oversize from the peer", func(t *testing.T, a, b *UDPTransport) {
			a.Send(oversize)
		}, func(s PathStats) bool { return s.Garbage == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := udpPair(t)
			tc.send(t, a, b)
			// Loopback delivers in order and one reader handles a path in
			// order: once a later valid heartbeat arrives on path 0, the
			// bad packet before it has been counted.
			a.Send(hb)
			for {
				if p := recvWithin(t, b, 5*time.Second); p.Path == 0 {
					if !bytes.Equal(p.Data, hb) {
						t.Fatalf("got %q delivered, want only the valid heartbeat", p.Data)
					}
					break
				}
			}
			if s := b.Stats()[0]; !tc.want(s) || s.Received != 1 {
				t.Errorf("got path 0 stats %+v, want the drop counted and one received", s)
			}
		})
	}
}

// TestUDPKernelDrops: datagrams the kernel drops because a path's socket
// buffer is full (the reader stalled under a flood) are counted on that
// path as rcvbuf, from what the kernel reports with the next datagram read.
func TestUDPKernelDrops(t *testing.T) {
	a, b := udpPair(t)
	release := make(chan struct{})
	var once sync.Once
	b.SetFilter(func(path int, data []byte) error {
		if path == 0 {
			once.Do(func() { <-release }) // the reader stalls on the first datagram
		}
		return errors.New("not queued")
	})
	flood := bytes.Repeat([]byte{0x42}, MaxPacket)
	copy(flood, magic[:])
	send := func(n int) {
		for range n {
			a.paths[0].conn.WriteToUDPAddrPort(flood, a.paths[0].cfg.Peer)
		}
	}
	send(4 * recvBuffer / MaxPacket) // four times what the buffer holds
	close(release)
	for i := 0; i < 500 && b.Drops()[0]["rcvbuf"] == 0; i++ {
		send(1) // read after the drops: it carries their count
		time.Sleep(10 * time.Millisecond)
	}
	s := b.Stats()
	if got := b.Drops()[0]["rcvbuf"]; got == 0 || s[0].Rcvbuf != got {
		t.Fatalf("got path 0 rcvbuf drops %d (stats %+v), want them counted", got, s[0])
	}
	if s[1].Rcvbuf != 0 {
		t.Errorf("got path 1 rcvbuf drops %d, want none", s[1].Rcvbuf)
	}
}

// FuzzKernelDrops: control messages of any shape never panic the reader.
func FuzzKernelDrops(f *testing.F) {
	good := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&good[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_RXQ_OVFL
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(good[unix.CmsgLen(0):], 7)
	if n, ok := kernelDrops(good); !ok || n != 7 {
		f.Fatalf("got %d, %v from a SO_RXQ_OVFL message of 7, want 7, true", n, ok)
	}
	f.Add(good)
	f.Add(append(bytes.Clone(good), good...))
	f.Add(good[:unix.SizeofCmsghdr])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, oob []byte) {
		kernelDrops(oob)
	})
}

func TestUDPTransportClose(t *testing.T) {
	a, _ := udpPair(t)
	a.Close()
	if _, ok := <-a.Recv(); ok {
		t.Fatalf("got a packet after Close, want the channel closed")
	}
	if err := a.Send([]byte("x")); err == nil {
		t.Errorf("got no error sending after Close, want one")
	}
	a.Close()
}

func TestListenUDP(t *testing.T) {
	peer := listenLoopback(t, "127.0.0.1")
	defer peer.Close()
	tr, err := ListenUDP([]Path{{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: addrOf(peer)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := peer.WriteToUDPAddrPort(mustEncode(t, sampleHeartbeat()), tr.LocalAddr(0)); err != nil {
		t.Fatal(err)
	}
	if p := recvWithin(t, tr, 5*time.Second); p.Path != 0 {
		t.Errorf("got path %d, want 0", p.Path)
	}
	for _, tc := range []struct {
		name  string
		paths []Path
	}{
		{"no paths", nil},
		{"peer without port", []Path{{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: netip.MustParseAddrPort("127.0.0.1:0")}}},
		{"address in use", []Path{{Local: addrOf(peer), Peer: addrOf(peer)}}},
		{"non-local address", []Path{{Local: netip.MustParseAddrPort("192.0.2.7:0"), Peer: addrOf(peer)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tr, err := ListenUDP(tc.paths, nil); err == nil {
				tr.Close()
				t.Errorf("got no error, want one")
			}
		})
	}
}

// TestUDPHeartbeatToTracker runs real heartbeats over loopback UDP into a
// PeerTracker.
func TestUDPHeartbeatToTracker(t *testing.T) {
	a, b := udpPair(t)
	tr := newTestTracker(t, 2)
	now := time.Now()
	for seq := uint64(1); seq <= 3; seq++ {
		a.Send(peerPacket(t, seq, now, nil))
	}
	for range 6 {
		p := recvWithin(t, b, 5*time.Second)
		if _, err := tr.Receive(p.Path, p.Data, now); err != nil {
			t.Fatalf("path %d: %v", p.Path, err)
		}
	}
	if !tr.PathAlive(0, now) || !tr.PathAlive(1, now) || tr.View(now).Seq != 3 {
		t.Errorf("got paths %+v view seq %d, want both alive at seq 3", tr.Paths(now), tr.View(now).Seq)
	}
}

// TestUDPFloodFiltered floods path 0 with forged heartbeat-sized packets
// from the peer's own address while the peer sends real heartbeats every
// 200ms: with the tracker's Admit installed as the transport's filter no
// forged packet is queued, every real heartbeat of path 1 reaches the
// tracker (those of path 0 may be lost in the kernel with the flood), the
// peer stays alive throughout, nothing overflows, and the forgeries are
// counted as bad MACs on path 0. (Before filtering, the forgeries filled the one queue and the
// real heartbeats were dropped as overflow: the peer looked dead.)
func TestUDPFloodFiltered(t *testing.T) {
	a, b := udpPair(t)
	tr := newTestTracker(t, 2)
	b.SetFilter(tr.Admit)
	forged := bytes.Repeat([]byte{0x42}, MaxPacket)
	copy(forged, peerPacket(t, 1, time.Now(), nil)[:headerSize+1+8]) // magic, version, length, cluster
	forged[5], forged[6] = byte(MaxPacket>>8), byte(MaxPacket&0xff)
	stop := make(chan struct{})
	flooded := make(chan int)
	go func() {
		n := 0
		defer func() { flooded <- n }()
		deadline := time.Now().Add(4 * time.Second) // bounded even if stop is never closed
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			for range 256 {
				if _, err := a.paths[0].conn.WriteToUDPAddrPort(forged, a.paths[0].cfg.Peer); err == nil {
					n++
				}
			}
		}
	}()
	received, seq := [2]int{}, uint64(0)
	deadline := time.Now().Add(2 * time.Second)
	next := time.Now()
	for time.Now().Before(deadline) {
		if !time.Now().Before(next) {
			seq++
			a.Send(peerPacket(t, seq, time.Now(), nil))
			next = next.Add(200 * time.Millisecond)
		}
		select {
		case p := <-b.Recv():
			if _, err := tr.Receive(p.Path, p.Data, time.Now()); err != nil {
				t.Errorf("queued packet on path %d dropped by Receive: %v (a forgery got through the filter)", p.Path, err)
			}
			received[p.Path]++
		case <-time.After(10 * time.Millisecond):
		}
		if seq > 1 && !tr.Alive(time.Now()) {
			t.Fatalf("the peer turned dead during the flood after %d heartbeats", seq)
		}
	}
	close(stop)
	n := <-flooded
	// Drain what is still queued.
	for drained := false; !drained; {
		select {
		case p := <-b.Recv():
			if _, err := tr.Receive(p.Path, p.Data, time.Now()); err == nil {
				received[p.Path]++
			}
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	if received[1] != int(seq) {
		t.Errorf("got %d real heartbeats through on path 1, want all %d while %d forgeries flooded path 0", received[1], seq, n)
	}
	ps := tr.Paths(time.Now())
	if b.Drops()[0]["overflow"] != 0 {
		t.Errorf("overflow drops on path 0: got %d, want none", b.Drops()[0]["overflow"])
	}
	if ps[0].Drops["bad_mac"] < uint64(n)/10 || ps[1].Drops["bad_mac"] != 0 {
		t.Errorf("bad_mac drops by path: got %d, %d for %d forgeries on path 0, want most on path 0 and none on path 1", ps[0].Drops["bad_mac"], ps[1].Drops["bad_mac"], n)
	}
	t.Logf("%d forgeries flooded path 0 in 2s; real heartbeats delivered per path %v of %d; path 0 drops %v", n, received, seq, ps[0].Drops)
}
