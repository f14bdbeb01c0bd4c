package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
)

// loopback is where FreeAddr finds its ports.
var loopback = netip.MustParseAddr("127.0.0.1")

// FreePort returns a port on ip that nothing had bound, for UDP or for TCP,
// a moment ago: a port for a server the caller is about to start, or a
// closed port that refuses connections. Nothing holds it after the call, so
// another process may take it first; callers that start a server on it
// retry or tolerate that. It tries up to 20 ports.
//
// Unlike the other helpers here it takes no testing.TB: the demo (`pbxha
// demo`) uses it at run time.
func FreePort(ip netip.Addr) (int, error) {
	var errs []error
	for range 20 {
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			return 0, fmt.Errorf("testenv: free port on %s: %w", ip, err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
		errs = append(errs, err) // free for UDP, taken for TCP: try another
	}
	return 0, fmt.Errorf("testenv: free port on %s: no port free for both UDP and TCP in 20 tries: %w", ip, errors.Join(errs...))
}

// FreeAddr returns "127.0.0.1:PORT" with a port from FreePort: nothing
// listens there on UDP or TCP, so a connection is refused until the test
// starts a server on it. It fails t when no port is found.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrOn(t, loopback.String())
}

// FreeAddrOn is FreeAddr on ip ("127.0.0.2", "198.18.0.11").
func FreeAddrOn(t testing.TB, ip string) string {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil {
		t.Fatalf("testenv: free address on %q: %v", ip, err)
	}
	port, err := FreePort(a)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}
