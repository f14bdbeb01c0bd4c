package vip

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// htons converts a 16-bit value to network byte order for sockaddr fields.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arpSocket sends Ethernet frames on any interface. It is an AF_PACKET
// socket with protocol 0, so it receives nothing. Opening and closing one
// costs 12-16 ms (synchronize_net on close), so a VIP opens it once.
type arpSocket struct{ fd int }

func openARPSocket() (*arpSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	return &arpSocket{fd: fd}, nil
}

// send writes one ARP frame to the broadcast address of interface ifindex.
// It does not block.
func (s *arpSocket) send(ifindex int, frame []byte) error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifindex, Halen: 6}
	copy(sa.Addr[:], broadcastMAC())
	return unix.Sendto(s.fd, frame, unix.MSG_DONTWAIT, sa)
}

func (s *arpSocket) close() error { return unix.Close(s.fd) }

// naSocket sends ICMPv6 messages with hop limit 255 (RFC 4861 requires it
// of neighbour discovery) and a chosen source address. A filter blocks every
// incoming ICMPv6 type, so nothing queues on it.
type naSocket struct{ fd int }

func openNASocket() (*naSocket, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return nil, fmt.Errorf("open icmpv6 socket: %w", err)
	}
	var blockAll unix.ICMPv6Filter
	for i := range blockAll.Data {
		blockAll.Data[i] = ^uint32(0)
	}
	for _, o := range []struct {
		level, opt, v int
	}{
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255},
		{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("icmpv6 socket option %d: %w", o.opt, err)
		}
	}
	if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &blockAll); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("icmpv6 filter: %w", err)
	}
	return &naSocket{fd: fd}, nil
}

// allNodes is ff02::1, the link-local all-nodes group.
var allNodes = netip.MustParseAddr("ff02::1")

// send writes one ICMPv6 message from src to ff02::1 on interface ifindex.
// The kernel computes the checksum. It does not block.
func (s *naSocket) send(ifindex int, src netip.Addr, msg []byte) error {
	sa := &unix.SockaddrInet6{Addr: allNodes.As16(), ZoneId: uint32(ifindex)}
	return unix.Sendmsg(s.fd, msg, pktinfo(ifindex, src), sa, unix.MSG_DONTWAIT)
}

func (s *naSocket) close() error { return unix.Close(s.fd) }

// pktinfo builds an IPV6_PKTINFO control message that sets the source
// address and outgoing interface of one datagram.
func pktinfo(ifindex int, src netip.Addr) []byte {
	b := make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	data := b[unix.CmsgLen(0):]
	a := src.As16()
	copy(data[0:16], a[:])
	binary.NativeEndian.PutUint32(data[16:20], uint32(ifindex))
	return b
}
