package configs

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/pbxha/pbxha/internal/testenv"
)

// procHex writes an address as /proc/net/udp{,6} does: 32-bit words in the
// host's byte order, each as %08X.
func procHex(a netip.Addr) string {
	b := a.AsSlice()
	s := ""
	for i := 0; i < len(b); i += 4 {
		s += fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return s
}

func procLine(addr string, port uint16, uid int) string {
	return fmt.Sprintf("  412: %s:%04X 00000000:0000 07 00000000:00000000 00:00000000 00000000 %5d        0 1420976 2 0000000000000000 0\n",
		procHex(netip.MustParseAddr(addr)), port, uid)
}

func TestParseProcNetUDP(t *testing.T) {
	const head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	v6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	cases := []struct {
		name string
		text string
		ap   string
		uid  uint32
		ok   bool
	}{
		{"same address", head + procLine("127.0.0.1", 7946, 1000), "127.0.0.1:7946", 1000, true},
		{"other port", head + procLine("127.0.0.1", 7947, 1000), "127.0.0.1:7946", 0, false},
		{"other address", head + procLine("127.0.0.2", 7946, 1000), "127.0.0.1:7946", 0, false},
		{"wildcard holds every address", head + procLine("0.0.0.0", 694, 65534), "10.1.1.1:694", 65534, true},
		{"second line", head + procLine("10.0.0.9", 53, 0) + procLine("10.1.1.1", 694, 33), "10.1.1.1:694", 33, true},
		{"ipv6", v6 + procLine("fd00:198:18::11", 7946, 1001), "[fd00:198:18::11]:7946", 1001, true},
		{"ipv6 wildcard", v6 + procLine("::", 7946, 1002), "127.0.0.1:7946", 1002, true},
		{"garbage", "x\n: :\nzz:QQ a b c d e f g\n", "127.0.0.1:7946", 0, false},
		{"empty", "", "127.0.0.1:7946", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uid, ok := parseProcNetUDP([]byte(tc.text), netip.MustParseAddrPort(tc.ap))
			if uid != tc.uid || ok != tc.ok {
				t.Errorf("got %d, %v, want %d, %v", uid, ok, tc.uid, tc.ok)
			}
		})
	}
}

// TestUDPOwnerOfABoundPort reads the owner of a socket bound by another
// user from the kernel's own table.
func TestUDPOwnerOfABoundPort(t *testing.T) {
	addr := testenv.FreeAddr(t)
	testenv.BindUDPAs(t, 65534, addr)
	uid, ok := udpOwner(netip.MustParseAddrPort(addr))
	if !ok || uid != 65534 {
		t.Errorf("got %d, %v, want 65534, true", uid, ok)
	}
}

// FuzzParseProcNetUDP: any text and address, never a panic.
func FuzzParseProcNetUDP(f *testing.F) {
	f.Add([]byte(procLine("127.0.0.1", 7946, 1000)), "127.0.0.1:7946")
	f.Add([]byte(procLine("::", 694, 0)), "[::1]:694")
	f.Add([]byte("  1: 0100007F:1F0A 0:0 07 0:0 0:0 0 4294967296 0 1\n"), "127.0.0.1:7946")
	f.Fuzz(func(t *testing.T, text []byte, addr string) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return
		}
		_, _ = parseProcNetUDP(text, ap)
	})
}
