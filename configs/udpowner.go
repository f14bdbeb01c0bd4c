package configs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// udpOwner returns the user id owning a UDP socket bound on this host that
// holds ap's port for ap's address (the same address, or a wildcard one),
// as the kernel lists it in /proc/net/udp and /proc/net/udp6.
func udpOwner(ap netip.AddrPort) (uid uint32, ok bool) {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if uid, ok := parseProcNetUDP(b, ap); ok {
			return uid, true
		}
	}
	return 0, false
}

// parseProcNetUDP finds, in the text of /proc/net/udp or udp6, a socket
// bound to ap's port on ap's address or on a wildcard one, and returns its
// uid. Lines that do not parse are skipped.
//
// A line reads "sl local_address rem_address st ... uid timeout inode...",
// local_address being the address as hex 32-bit words in the host's byte
// order, a colon, and the port in hex.
func parseProcNetUDP(text []byte, ap netip.AddrPort) (uid uint32, ok bool) {
	want := ap.Addr().Unmap()
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		host, port, found := strings.Cut(f[1], ":")
		if !found {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil || uint16(p) != ap.Port() {
			continue
		}
		addr, ok := procAddr(host)
		if !ok || !(addr.IsUnspecified() || want.IsUnspecified() || addr == want) {
			continue
		}
		u, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			continue
		}
		return uint32(u), true
	}
	return 0, false
}

// procAddr decodes an address of /proc/net/udp{,6}: 8 or 32 hex digits,
// each group of 8 a 32-bit word in the host's byte order.
func procAddr(s string) (netip.Addr, bool) {
	raw, err := hex.DecodeString(s)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), true
}
