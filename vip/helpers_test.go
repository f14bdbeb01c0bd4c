package vip

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
	"golang.org/x/sys/unix"
)

// Addresses inside the test topologies (198.18.0.0/24, fd00:198:18::/64).
var (
	vip4 = netip.MustParseAddr("198.18.0.100")
	vip6 = netip.MustParseAddr("fd00:198:18::100")
)

// testLogger writes the VIP's logs into the test log; benchmarks discard
// them.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newVIPIn creates a VIP inside h's namespace and closes it when the test
// ends.
func newVIPIn(t testing.TB, h *netns.Host, cfg Config) *VIP {
	t.Helper()
	v, err := newVIPInErr(t, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newVIPInErr(t testing.TB, h *netns.Host, cfg Config) (*VIP, error) {
	t.Helper()
	if cfg.Interface == "" {
		cfg.Interface = h.Link
	}
	var v *VIP
	err := h.Do(func() error {
		var err error
		v, err = New(cfg, testLogger(t))
		return err
	})
	if err == nil {
		t.Cleanup(func() { v.Close() })
	}
	return v, err
}

// listenUDP opens a UDP socket on addr:port inside h.
func listenUDP(t testing.TB, h *netns.Host, addr netip.Addr, port uint16) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		return err
	}); err != nil {
		t.Fatalf("listen on %s port %d in %s: %v", addr, port, h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialUDP opens a UDP socket in h connected to addr:port.
func dialUDP(t testing.TB, h *netns.Host, addr netip.Addr, port uint16) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends a numbered datagram on from, once every 50 ms, until rx
// gets one of them or wait passes, and reports whether it arrived.
func exchange(t testing.TB, from, rx *net.UDPConn, wait time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 64)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if _, err := from.Write([]byte("probe " + strconv.Itoa(i))); err != nil {
			t.Logf("send: %v", err)
		}
		rx.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _, err := rx.ReadFromUDP(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("probe ")) {
			return true
		}
	}
	return false
}

// waitNeighbour waits until h's neighbour entry for ip is mac, without
// sending anything from h, and fails the test after wait.
func waitNeighbour(t testing.TB, h *netns.Host, ip netip.Addr, mac net.HardwareAddr, wait time.Duration) {
	t.Helper()
	testenv.WaitForReason(t, wait, fmt.Sprintf("%s's neighbour entry for %s to be %s", h.Name, ip, mac), func() (bool, string) {
		got, err := h.Neighbour(ip)
		return err == nil && bytes.Equal(got, mac), fmt.Sprintf("got %v (err %v)", got, err)
	})
}

// sniffer counts announcements arriving at a host.
type sniffer struct {
	fd int
	v6 bool
}

// sniff opens, inside h, a packet socket for ARP (v4) or a raw ICMPv6
// socket that passes only neighbour advertisements (v6).
func sniff(t testing.TB, h *netns.Host, v6 bool) *sniffer {
	t.Helper()
	s := &sniffer{v6: v6}
	err := h.Do(func() error {
		var err error
		if v6 {
			s.fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
			if err != nil {
				return err
			}
			var f unix.ICMPv6Filter
			for i := range f.Data {
				f.Data[i] = ^uint32(0)
			}
			f.Data[icmp6NeighborAdvert>>5] &^= 1 << (icmp6NeighborAdvert & 31)
			return unix.SetsockoptICMPv6Filter(s.fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f)
		}
		ifi, err := net.InterfaceByName(h.Link)
		if err != nil {
			return err
		}
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(etherTypeARP)))
		if err != nil {
			return err
		}
		return unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("sniffer in %s: %v", h.Name, err)
	}
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// announcements collects the announcements of ip for d, or until it has
// max of them (0: no limit), and returns the MAC each one advertised.
func (s *sniffer) announcements(ip netip.Addr, max int, d time.Duration) []net.HardwareAddr {
	var macs []net.HardwareAddr
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for i := 0; i < 10000 && time.Now().Before(deadline) && (max == 0 || len(macs) < max); i++ {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue // timeout: look at the deadline again
		}
		if s.v6 {
			if p, err := parseNA(buf[:n]); err == nil && p.Target == ip && p.Override && !p.Solicited {
				macs = append(macs, p.TargetMAC)
			}
			continue
		}
		if p, err := parseARP(buf[:n]); err == nil && p.isGratuitous() && p.SenderIP == ip {
			macs = append(macs, p.SenderMAC)
		}
	}
	return macs
}
