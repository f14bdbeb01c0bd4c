package vip

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pbxha/pbxha/test/netns"
)

// BenchmarkUpDown measures one Up (add the address, send the first GARP)
// plus one Down (delete it) with the VIP's persistent netlink handle and
// packet socket. Needs root.
func BenchmarkUpDown(b *testing.B) {
	topo := netns.New(b, netns.Options{Hosts: []string{"n1"}})
	v := newVIPIn(b, topo.Host("n1"), Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1})
	ctx := context.Background()
	for b.Loop() {
		if err := v.Up(ctx); err != nil {
			b.Fatal(err)
		}
		if err := v.Down(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTakeoverFirstPacket measures the time from calling Up on n2 to
// the first datagram of a client, which sends to the VIP every ~100µs and
// had n1's MAC in its neighbour table, reaching n2. n1 released the address
// just before (Down), so only n2's GARP can redirect the client. Needs root.
func BenchmarkTakeoverFirstPacket(b *testing.B) {
	topo := netns.New(b, netns.Options{Hosts: []string{"n1", "n2", "client"}})
	n1, n2, client := topo.Host("n1"), topo.Host("n2"), topo.Host("client")
	cfg := Config{Mode: ModeNetlink, Address: "198.18.0.100/32", GARPCount: 1}
	v1, v2 := newVIPIn(b, n1, cfg), newVIPIn(b, n2, cfg)
	ctx := context.Background()

	// Both nodes listen on the VIP with IP_FREEBIND, so the sockets exist
	// before the address arrives.
	rx1, rx2 := freebindUDP(b, n1), freebindUDP(b, n2)
	tx := dialUDP(b, client, vip4, 5060)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			tx.Write([]byte("rtp"))
			time.Sleep(100 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()

	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		if err := v1.Up(ctx); err != nil {
			b.Fatal(err)
		}
		waitPacket(b, rx1, 10*time.Second)
		if err := v1.Down(ctx); err != nil {
			b.Fatal(err)
		}
		drain(rx2)
		b.StartTimer()
		start := time.Now()
		if err := v2.Up(ctx); err != nil {
			b.Fatal(err)
		}
		waitPacket(b, rx2, 10*time.Second)
		total += time.Since(start)
		b.StopTimer()
		if err := v2.Down(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/first-packet")
}

func freebindUDP(b *testing.B, h *netns.Host) *net.UDPConn {
	b.Helper()
	var c *net.UDPConn
	err := h.Do(func() error {
		lc := net.ListenConfig{Control: freebind}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "198.18.0.100:5060")
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func waitPacket(b *testing.B, c *net.UDPConn, wait time.Duration) {
	b.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	if _, _, err := c.ReadFromUDP(buf); err != nil {
		b.Fatalf("no datagram from the client within %s: %v", wait, err)
	}
}

// drain empties c's receive queue.
func drain(c *net.UDPConn) {
	buf := make([]byte, 64)
	for range 100000 {
		c.SetReadDeadline(time.Now())
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return
		}
	}
}
