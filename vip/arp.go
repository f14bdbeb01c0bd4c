package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Ethernet and ARP constants (RFC 826).
const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	arpHTEthernet = 1
	arpRequest    = 1
	arpReply      = 2
	arpFrameLen   = 14 + 28 // Ethernet header + ARP for Ethernet/IPv4
)

// broadcastMAC returns ff:ff:ff:ff:ff:ff (a fresh slice each time).
func broadcastMAC() net.HardwareAddr { return net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// arpPacket is an Ethernet frame carrying ARP for IPv4 over Ethernet.
type arpPacket struct {
	Dst, Src  net.HardwareAddr // Ethernet header
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

// garpFrame builds a gratuitous ARP announcement for ip from mac: a
// broadcast ARP request whose sender and target IP are both ip (RFC 5227
// section 3, "ARP Announcement"), target MAC zero. Peers that already have an
// entry for ip update it to mac.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpPacket{
		Dst:       broadcastMAC(),
		Src:       mac,
		Op:        arpRequest,
		SenderMAC: mac,
		SenderIP:  ip,
		TargetMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0},
		TargetIP:  ip,
	}.marshal()
}

// marshal encodes p as a 42-byte Ethernet frame.
func (p arpPacket) marshal() ([]byte, error) {
	for _, m := range []net.HardwareAddr{p.Dst, p.Src, p.SenderMAC, p.TargetMAC} {
		if len(m) != 6 {
			return nil, fmt.Errorf("hardware address %q is not 6 bytes", m)
		}
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("arp addresses %s, %s are not both IPv4", p.SenderIP, p.TargetIP)
	}
	b := make([]byte, arpFrameLen)
	copy(b[0:6], p.Dst)
	copy(b[6:12], p.Src)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], arpHTEthernet)
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], p.Op)
	copy(a[8:14], p.SenderMAC)
	sip, tip := p.SenderIP.As4(), p.TargetIP.As4()
	copy(a[14:18], sip[:])
	copy(a[18:24], p.TargetMAC)
	copy(a[24:28], tip[:])
	return b, nil
}

// errNotARP says a frame is not ARP for IPv4 over Ethernet.
var errNotARP = errors.New("not an Ethernet/IPv4 ARP frame")

// parseARP decodes an Ethernet frame carrying IPv4-over-Ethernet ARP.
// Trailing bytes (Ethernet padding) are ignored.
func parseARP(b []byte) (arpPacket, error) {
	if len(b) < arpFrameLen {
		return arpPacket{}, fmt.Errorf("%w: %d bytes, want at least %d", errNotARP, len(b), arpFrameLen)
	}
	if et := binary.BigEndian.Uint16(b[12:14]); et != etherTypeARP {
		return arpPacket{}, fmt.Errorf("%w: ethertype %#04x", errNotARP, et)
	}
	a := b[14:]
	if ht, pt := binary.BigEndian.Uint16(a[0:2]), binary.BigEndian.Uint16(a[2:4]); ht != arpHTEthernet || pt != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return arpPacket{}, fmt.Errorf("%w: htype %d ptype %#04x hlen %d plen %d", errNotARP, ht, pt, a[4], a[5])
	}
	mac := func(s []byte) net.HardwareAddr { return net.HardwareAddr(append([]byte(nil), s...)) }
	return arpPacket{
		Dst:       mac(b[0:6]),
		Src:       mac(b[6:12]),
		Op:        binary.BigEndian.Uint16(a[6:8]),
		SenderMAC: mac(a[8:14]),
		SenderIP:  netip.AddrFrom4([4]byte(a[14:18])),
		TargetMAC: mac(a[18:24]),
		TargetIP:  netip.AddrFrom4([4]byte(a[24:28])),
	}, nil
}

// isGratuitous reports whether p announces SenderIP (sender IP equals target
// IP), in request or reply form.
func (p arpPacket) isGratuitous() bool {
	return (p.Op == arpRequest || p.Op == arpReply) && p.SenderIP == p.TargetIP
}
