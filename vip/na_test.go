package vip

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x98, 0x18, 0x00, 0x00, 0x0c}
	got, err := unsolicitedNA(mac, netip.MustParseAddr("fd00:198:18::100"))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 4861 section 4.4: type 136, code 0, checksum (kernel), R=0 S=0 O=1,
	// target, then option 2 (target link-layer address), length 1 (8 bytes).
	want := unhex(t, `
		88 00 0000 20 000000
		fd000198001800000000000000000100
		02 01 02981800000c`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestParseNA(t *testing.T) {
	solicited := unhex(t, `
		88 00 1234 60 000000
		fd00019800180000000000000000000c
		01 01 aaaaaaaaaaaa
		02 01 02981800000c`) // a source LL option (ignored), then the target's
	for _, tc := range []struct {
		name    string
		msg     []byte
		wantErr string
		want    naPacket
	}{
		{"solicited with options", solicited, "", naPacket{Solicited: true, Override: true,
			Target: netip.MustParseAddr("fd00:198:18::c"), TargetMAC: net.HardwareAddr{2, 0x98, 0x18, 0, 0, 0x0c}}},
		{"no options", solicited[:24], "", naPacket{Solicited: true, Override: true, Target: netip.MustParseAddr("fd00:198:18::c")}},
		{"short", solicited[:23], "23 bytes", naPacket{}},
		{"solicitation", append([]byte{135}, solicited[1:]...), "type 135", naPacket{}},
		{"zero-length option", append(append([]byte{}, solicited[:24]...), 2, 0, 0, 0, 0, 0, 0, 0), "bad length 0", naPacket{}},
		{"option past end", append(append([]byte{}, solicited[:24]...), 2, 2, 0, 0, 0, 0, 0, 0), "bad length 2", naPacket{}},
		{"odd trailing byte", append(append([]byte{}, solicited...), 2), "truncated option", naPacket{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseNA(tc.msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Router != tc.want.Router || p.Solicited != tc.want.Solicited || p.Override != tc.want.Override ||
				p.Target != tc.want.Target || p.TargetMAC.String() != tc.want.TargetMAC.String() {
				t.Errorf("got %+v, want %+v", p, tc.want)
			}
		})
	}
}

// FuzzParseNA: parsing never panics; a parsed advertisement re-encodes to
// one that parses to the same fields.
func FuzzParseNA(f *testing.F) {
	na, _ := unsolicitedNA(net.HardwareAddr{2, 0x98, 0x18, 0, 0, 0x0c}, netip.MustParseAddr("fd00:198:18::100"))
	f.Add(na)
	f.Add(na[:24])
	f.Add(append(append([]byte{}, na...), 1, 1, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseNA(b)
		if err != nil {
			return
		}
		out, err := p.marshal()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", p, err)
		}
		q, err := parseNA(out)
		if err != nil {
			t.Fatalf("parsing the re-encoding: %v", err)
		}
		if p.Router != q.Router || p.Solicited != q.Solicited || p.Override != q.Override || p.Target != q.Target ||
			!bytes.Equal(p.TargetMAC, q.TargetMAC) {
			t.Fatalf("round trip: got %+v, want %+v", q, p)
		}
	})
}

// FuzzUnsolicitedNA: any 6-byte MAC and IPv6 target build an advertisement
// that parses back with override set and the same addresses.
func FuzzUnsolicitedNA(f *testing.F) {
	f.Add([]byte{2, 0x98, 0x18, 0, 0, 0x0c}, netip.MustParseAddr("fd00:198:18::100").AsSlice())
	f.Add([]byte{2, 0x98, 0x18, 0, 0, 0x0c}, []byte{198, 18, 0, 100})
	f.Add([]byte{2}, netip.MustParseAddr("fd00:198:18::100").AsSlice())
	f.Fuzz(func(t *testing.T, mac, ip []byte) {
		addr, _ := netip.AddrFromSlice(ip)
		msg, err := unsolicitedNA(net.HardwareAddr(mac), addr)
		if len(mac) != 6 || !addr.Is6() || addr.Is4In6() {
			if err == nil {
				t.Fatalf("mac %x ip %x: got a message, want an error", mac, ip)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseNA(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Override || p.Solicited || p.Router || p.Target != addr || !bytes.Equal(p.TargetMAC, mac) {
			t.Fatalf("parsed: got %+v, want override-only for %s from %x", p, addr, mac)
		}
	})
}
