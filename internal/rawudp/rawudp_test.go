package rawudp_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/rawudp"
	"github.com/pbxha/pbxha/internal/testenv"
)

// lab builds hosts a, b and m (the attacker) and removes them at the end.
func lab(t *testing.T) (a, b, m *netlab.Host) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	lab, err := netlab.New(t.Context(), netlab.Options{Hosts: []string{"a", "b", "m"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab.Host("a"), lab.Host("b"), lab.Host("m")
}

// TestForgedSource: m sends datagrams that b's socket receives as from a;
// b's neighbour entry for a still names a's MAC, so a is not disturbed; a
// flood gets through in numbers; a capture on b records a's genuine
// datagrams and nothing else.
func TestForgedSource(t *testing.T) {
	a, b, m := lab(t)
	aAddr, bAddr := netip.AddrPortFrom(a.IP, 7946), netip.AddrPortFrom(b.IP, 7946)
	var pc *net.UDPConn
	if err := b.Do(func() (err error) { pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(bAddr)); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var capture *rawudp.Capture
	if err := b.Do(func() (err error) { capture, err = rawudp.NewCapture(b.Link, aAddr, bAddr); return err }); err != nil {
		t.Fatal(err)
	}
	// a's genuine datagram first, so that b has a's MAC in its table.
	if err := a.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(aAddr), net.UDPAddrFromAddrPort(bAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("genuine"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var s *rawudp.Sender
	if err := m.Do(func() (err error) { s, err = rawudp.NewSender(aAddr, bAddr); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send([]byte("forged")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for _, want := range []string{"genuine", "forged"} {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != want || from != aAddr {
			t.Fatalf("got %q from %s (%v), want %q from %s", buf[:n], from, err, want, aAddr)
		}
	}
	if mac, err := b.Neighbour(a.IP); err != nil || mac.String() != a.MAC.String() {
		t.Errorf("b's neighbour entry for a: got %v (%v), want a's %s", mac, err, a.MAC)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	sent, err := s.Flood(ctx, [][]byte{[]byte("flood 1"), []byte("flood 2")})
	if err != nil || sent < 1000 {
		t.Errorf("flood for 200ms: got %d sent (%v), want at least 1000", sent, err)
	}
	got := 0
	for {
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		if from != aAddr || !strings.HasPrefix(string(buf[:n]), "flood ") {
			t.Fatalf("got %q from %s, want a flood datagram from %s", buf[:n], from, aAddr)
		}
		got++
	}
	if got < 100 {
		t.Errorf("b received %d datagrams of the flood, want at least 100", got)
	}
	// The capture sees what crosses b's link from a's address: the genuine
	// datagram and the forged ones alike; the test's own traffic to
	// other ports is not kept.
	caught := capture.Close()
	if len(caught) < 2 || string(caught[0].Payload) != "genuine" || string(caught[1].Payload) != "forged" {
		t.Fatalf("captured %d datagrams, want genuine and forged first", len(caught))
	}
	for _, d := range caught {
		if d.From != aAddr || d.To != bAddr {
			t.Fatalf("captured a datagram from %s to %s, want %s to %s only", d.From, d.To, aAddr, bAddr)
		}
	}
}

// TestRefusesOutsideLab: no socket is opened for an address that could
// leave the machine.
func TestRefusesOutsideLab(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst string
	}{
		{"public destination", "198.18.0.11:7946", "192.0.2.1:7946"},
		{"public source", "203.0.113.5:7946", "198.18.0.12:7946"},
		{"ipv6", "[fd00:198:18::b]:7946", "198.18.0.12:7946"},
		{"port 0", "198.18.0.11:0", "198.18.0.12:7946"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			if s, err := rawudp.NewSender(src, dst); err == nil {
				s.Close()
				t.Errorf("NewSender(%s, %s): got no error, want a refusal", src, dst)
			}
			if c, err := rawudp.NewCapture("lo", src, dst); err == nil {
				c.Close()
				t.Errorf("NewCapture(%s, %s): got no error, want a refusal", src, dst)
			}
		})
	}
}

// FuzzParseIPv4UDP: any bytes parse without a panic, and a payload
// returned lies within the packet.
func FuzzParseIPv4UDP(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 11, 198, 18, 0, 12, 0x1f, 0x0a, 0x1f, 0x0a, 0, 10, 0, 0, 'h', 'i'})
	f.Add([]byte{0x46, 0, 0, 34, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 1, 2, 3, 4, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0})
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x20, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _, payload, ok := rawudp.ParseIPv4UDP(p)
		if !ok {
			if payload != nil {
				t.Fatalf("got payload %x with ok false", payload)
			}
			return
		}
		if len(payload) > len(p)-28 {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(p))
		}
	})
}
