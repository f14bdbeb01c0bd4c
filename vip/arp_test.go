package vip

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// unhex decodes hex written with spaces and newlines between fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGARPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x98, 0x18, 0x00, 0x00, 0x0b}
	got, err := garpFrame(mac, netip.MustParseAddr("198.18.0.100"))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 826 layout, RFC 5227 section 3 announcement.
	want := unhex(t, `
		ffffffffffff   029818 00000b   0806
		0001 0800 06 04 0001
		029818 00000b  c6120064
		000000 000000  c6120064`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	p, err := parseARP(got)
	if err != nil {
		t.Fatal(err)
	}
	if !p.isGratuitous() || p.SenderMAC.String() != mac.String() || p.SenderIP != netip.MustParseAddr("198.18.0.100") {
		t.Errorf("parsed: got %+v, want a gratuitous request from %s for 198.18.0.100", p, mac)
	}
}

func TestGARPFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mac  net.HardwareAddr
		ip   netip.Addr
		want string
	}{
		{"short mac", net.HardwareAddr{1, 2, 3}, netip.MustParseAddr("198.18.0.100"), "not 6 bytes"},
		{"infiniband mac", make(net.HardwareAddr, 20), netip.MustParseAddr("198.18.0.100"), "not 6 bytes"},
		{"ipv6", net.HardwareAddr{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("fd00:198:18::100"), "not both IPv4"},
		{"zero ip", net.HardwareAddr{2, 0, 0, 0, 0, 1}, netip.Addr{}, "not both IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := garpFrame(tc.mac, tc.ip)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseARP(t *testing.T) {
	reply := unhex(t, `
		029818000011 02981800000c 0806
		0001 0800 06 04 0002
		02981800000c c612000c
		029818000011 c6120011
		000000000000000000000000000000000000`) // 18 bytes of Ethernet padding
	for _, tc := range []struct {
		name    string
		frame   []byte
		wantErr string
		wantOp  uint16
		garp    bool
	}{
		{"padded reply", reply, "", arpReply, false},
		{"too short", reply[:41], "41 bytes", 0, false},
		{"ipv4 ethertype", append(append([]byte{}, reply[:12]...), append([]byte{0x08, 0x00}, reply[14:]...)...), "ethertype 0x0800", 0, false},
		{"ipv6 protocol", append(append([]byte{}, reply[:16]...), append([]byte{0x86, 0xdd}, reply[18:]...)...), "ptype 0x86dd", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseARP(tc.frame)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Op != tc.wantOp || p.isGratuitous() != tc.garp {
				t.Errorf("got op %d gratuitous %v, want %d %v", p.Op, p.isGratuitous(), tc.wantOp, tc.garp)
			}
			if p.SenderIP != netip.MustParseAddr("198.18.0.12") || p.TargetIP != netip.MustParseAddr("198.18.0.17") {
				t.Errorf("got %s -> %s, want 198.18.0.12 -> 198.18.0.17", p.SenderIP, p.TargetIP)
			}
		})
	}
}

// FuzzParseARP: parsing never panics, and a parsed frame re-encodes to its
// first 42 bytes.
func FuzzParseARP(f *testing.F) {
	g, _ := garpFrame(net.HardwareAddr{2, 0x98, 0x18, 0, 0, 0x0b}, netip.MustParseAddr("198.18.0.100"))
	f.Add(g)
	f.Add(g[:41])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseARP(b)
		if err != nil {
			return
		}
		out, err := p.marshal()
		if err != nil {
			t.Fatalf("re-encoding a parsed frame: %v", err)
		}
		if !bytes.Equal(out, b[:arpFrameLen]) {
			t.Fatalf("re-encoded: got %x, want %x", out, b[:arpFrameLen])
		}
	})
}

// FuzzGARPFrame: any 6-byte MAC and IPv4 address build a frame that parses
// back to a gratuitous request with the same addresses; anything else is
// an error, never a panic.
func FuzzGARPFrame(f *testing.F) {
	f.Add([]byte{2, 0x98, 0x18, 0, 0, 0x0b}, []byte{198, 18, 0, 100})
	f.Add([]byte{2, 0x98, 0x18}, []byte{198, 18, 0, 100})
	f.Add([]byte{2, 0x98, 0x18, 0, 0, 0x0b}, make([]byte, 16))
	f.Fuzz(func(t *testing.T, mac, ip []byte) {
		addr, _ := netip.AddrFromSlice(ip)
		frame, err := garpFrame(net.HardwareAddr(mac), addr)
		if len(mac) != 6 || !addr.Is4() {
			if err == nil {
				t.Fatalf("mac %x ip %x: got a frame, want an error", mac, ip)
			}
			return
		}
		if err != nil {
			t.Fatalf("mac %x ip %s: %v", mac, addr, err)
		}
		if len(frame) != arpFrameLen {
			t.Fatalf("length: got %d, want %d", len(frame), arpFrameLen)
		}
		p, err := parseARP(frame)
		if err != nil {
			t.Fatal(err)
		}
		if !p.isGratuitous() || p.Op != arpRequest || !bytes.Equal(p.SenderMAC, mac) || !bytes.Equal(p.Src, mac) ||
			!bytes.Equal(p.Dst, broadcastMAC()) || p.SenderIP != addr {
			t.Fatalf("parsed: got %+v, want a broadcast gratuitous request from %x for %s", p, mac, addr)
		}
	})
}
