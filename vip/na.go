package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ICMPv6 neighbour discovery constants (RFC 4861).
const (
	icmp6NeighborAdvert = 136
	naFlagRouter        = 0x80
	naFlagSolicited     = 0x40
	naFlagOverride      = 0x20
	ndOptTargetLLAddr   = 2
	naHeaderLen         = 24 // type, code, checksum, flags+reserved, target
	naLen               = naHeaderLen + 8
)

// naPacket is an ICMPv6 neighbour advertisement: the ICMPv6 message, without
// the IPv6 header, as a raw ICMPv6 socket sends and receives it.
type naPacket struct {
	Router, Solicited, Override bool
	Target                      netip.Addr
	TargetMAC                   net.HardwareAddr // target link-layer address option; nil if absent
}

// unsolicitedNA builds the advertisement a new holder of target sends to
// all nodes (ff02::1): override set, solicited clear, with the target
// link-layer address option. Peers that have an entry for target update it
// to mac. The checksum is left zero: the kernel fills it for raw ICMPv6
// sockets.
func unsolicitedNA(mac net.HardwareAddr, target netip.Addr) ([]byte, error) {
	if target.Is4In6() {
		return nil, fmt.Errorf("target %s is IPv4 mapped into IPv6", target)
	}
	return naPacket{Override: true, Target: target, TargetMAC: mac}.marshal()
}

// marshal encodes p with a zero checksum.
func (p naPacket) marshal() ([]byte, error) {
	if !p.Target.Is6() {
		return nil, fmt.Errorf("target %s is not IPv6", p.Target)
	}
	if p.TargetMAC != nil && len(p.TargetMAC) != 6 {
		return nil, fmt.Errorf("hardware address %q is not 6 bytes", p.TargetMAC)
	}
	n := naHeaderLen
	if p.TargetMAC != nil {
		n = naLen
	}
	b := make([]byte, n)
	b[0] = icmp6NeighborAdvert
	if p.Router {
		b[4] |= naFlagRouter
	}
	if p.Solicited {
		b[4] |= naFlagSolicited
	}
	if p.Override {
		b[4] |= naFlagOverride
	}
	t := p.Target.As16()
	copy(b[8:24], t[:])
	if p.TargetMAC != nil {
		b[24], b[25] = ndOptTargetLLAddr, 1 // length in units of 8 bytes
		copy(b[26:32], p.TargetMAC)
	}
	return b, nil
}

// errNotNA says a message is not a neighbour advertisement.
var errNotNA = errors.New("not a neighbour advertisement")

// parseNA decodes an ICMPv6 neighbour advertisement and its target
// link-layer address option; other options are skipped. It rejects
// malformed options (zero length, running past the end) as RFC 4861
// section 7.1.2 requires.
func parseNA(b []byte) (naPacket, error) {
	if len(b) < naHeaderLen {
		return naPacket{}, fmt.Errorf("%w: %d bytes, want at least %d", errNotNA, len(b), naHeaderLen)
	}
	if b[0] != icmp6NeighborAdvert || b[1] != 0 {
		return naPacket{}, fmt.Errorf("%w: type %d code %d", errNotNA, b[0], b[1])
	}
	p := naPacket{
		Router:    b[4]&naFlagRouter != 0,
		Solicited: b[4]&naFlagSolicited != 0,
		Override:  b[4]&naFlagOverride != 0,
		Target:    netip.AddrFrom16([16]byte(b[8:24])),
	}
	for opts := b[naHeaderLen:]; len(opts) > 0; {
		if len(opts) < 2 {
			return naPacket{}, fmt.Errorf("%w: truncated option", errNotNA)
		}
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return naPacket{}, fmt.Errorf("%w: option type %d has bad length %d", errNotNA, opts[0], opts[1])
		}
		if opts[0] == ndOptTargetLLAddr && l == 8 && p.TargetMAC == nil {
			p.TargetMAC = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[l:]
	}
	return p, nil
}
