package testenv

import (
	"net/netip"
	"testing"

	"github.com/pbxha/pbxha/internal/netlab"
)

// loopback is where FreeAddr finds its ports.
var loopback = netip.MustParseAddr("127.0.0.1")

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
	port, err := netlab.FreePort(a)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}
