// Package rawudp plays an attacker on a lab network in tests: a Sender sends
// UDP datagrams with a forged IPv4 source address from a raw socket, and a
// Capture records the datagrams that another process's socket receives,
// from a packet socket. Both work in the network namespace of the thread
// that creates them (netlab's Host.Do), refuse any address outside the lab
// subnet (198.18.0.0/24) and loopback, need CAP_NET_RAW and are Linux only.
//
// A forged source is sound on a lab bridge: the frames carry the sender's
// own MAC address, and neither the bridge nor any host learns from an IP
// source address, so the host whose address is forged is not disturbed.
// Adding that address to the attacker's interface instead would make the
// attacker answer ARP for it and take its traffic.
package rawudp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/pbxha/pbxha/internal/netlab"
	"golang.org/x/sys/unix"
)

const (
	ipHeader  = 20
	udpHeader = 8
	// MaxPayload is the largest payload a Sender sends: one unfragmented
	// datagram on a 1500-byte link.
	MaxPayload = 1500 - ipHeader - udpHeader
	// batch is how many datagrams one sendmmsg call hands the kernel.
	batch = 64
)

// allowed reports whether a may appear in a forged datagram: a lab
// address or loopback, never anything that could leave the machine.
func allowed(a netip.Addr) bool {
	return a.Is4() && (netlab.Subnet.Contains(a) || a.IsLoopback())
}

func checkAddrs(src, dst netip.AddrPort) error {
	for _, a := range []netip.AddrPort{src, dst} {
		if !allowed(a.Addr()) || a.Port() == 0 {
			return fmt.Errorf("rawudp: %s: want an IPv4 address in %s or loopback, with a port", a, netlab.Subnet)
		}
	}
	return nil
}

// Sender sends UDP datagrams from a forged source to one destination. It
// is not safe for concurrent use.
type Sender struct {
	fd       int
	src, dst netip.AddrPort
}

// NewSender opens a raw socket in the calling thread's network namespace
// for datagrams from src to dst.
func NewSender(src, dst netip.AddrPort) (*Sender, error) {
	if err := checkAddrs(src, dst); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("rawudp: sender %s->%s: raw socket: %w", src, dst, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4()}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawudp: sender %s->%s: connect: %w", src, dst, err)
	}
	return &Sender{fd: fd, src: src, dst: dst}, nil
}

// Close closes the socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }

// packet returns payload as an IPv4 packet from src to dst. The kernel
// fills in the total length, the identification and the header checksum;
// the UDP checksum is left out (zero), as IPv4 allows.
func (s *Sender) packet(payload []byte) []byte {
	p := make([]byte, ipHeader+udpHeader+len(payload))
	p[0] = 0x45 // version 4, 5 words of header
	p[8] = 64   // TTL
	p[9] = unix.IPPROTO_UDP
	src, dst := s.src.Addr().As4(), s.dst.Addr().As4()
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	u := p[ipHeader:]
	binary.BigEndian.PutUint16(u[0:2], s.src.Port())
	binary.BigEndian.PutUint16(u[2:4], s.dst.Port())
	binary.BigEndian.PutUint16(u[4:6], uint16(udpHeader+len(payload)))
	copy(u[udpHeader:], payload)
	return p
}

// Send sends one datagram.
func (s *Sender) Send(payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("rawudp: send %s->%s: %d bytes, want at most %d", s.src, s.dst, len(payload), MaxPayload)
	}
	if _, err := unix.Write(s.fd, s.packet(payload)); err != nil {
		return fmt.Errorf("rawudp: send %s->%s: %w", s.src, s.dst, err)
	}
	return nil
}

// Flood sends the payloads over and over, in order, as fast as the kernel
// takes them, until ctx is done, and returns how many datagrams the kernel
// took. A send the kernel refuses for lack of buffers is not counted and
// not an error.
func (s *Sender) Flood(ctx context.Context, payloads [][]byte) (sent uint64, err error) {
	if len(payloads) == 0 {
		return 0, errors.New("rawudp: flood: no payloads")
	}
	pkts := make([][]byte, 0, batch)
	for i := 0; len(pkts) < batch; i++ {
		p := payloads[i%len(payloads)]
		if len(p) == 0 || len(p) > MaxPayload {
			return 0, fmt.Errorf("rawudp: flood %s->%s: payload of %d bytes, want 1 to %d", s.src, s.dst, len(p), MaxPayload)
		}
		pkts = append(pkts, s.packet(p))
	}
	iovs := make([]unix.Iovec, len(pkts))
	msgs := make([]unix.Mmsghdr, len(pkts))
	for i, p := range pkts {
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.Iovlen = 1
	}
	for ctx.Err() == nil {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		switch errno {
		case 0:
			sent += uint64(n)
		case unix.EINTR, unix.ENOBUFS, unix.EAGAIN:
		default:
			return sent, fmt.Errorf("rawudp: flood %s->%s: sendmmsg: %w", s.src, s.dst, errno)
		}
	}
	return sent, nil
}

// Datagram is one captured UDP datagram.
type Datagram struct {
	From, To netip.AddrPort
	Payload  []byte
	At       time.Time // when the capture read it
}

// ParseIPv4UDP splits an IPv4 packet carrying UDP into its addresses and
// payload; ok is false for anything else (another protocol, a fragment,
// a packet shorter than its headers say).
func ParseIPv4UDP(p []byte) (from, to netip.AddrPort, payload []byte, ok bool) {
	if len(p) < ipHeader || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP {
		return from, to, nil, false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	frag := binary.BigEndian.Uint16(p[6:8])
	if ihl < ipHeader || total > len(p) || total < ihl+udpHeader || frag&0x3fff != 0 {
		return from, to, nil, false
	}
	u := p[ihl:total]
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < udpHeader || ulen > len(u) {
		return from, to, nil, false
	}
	from = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[12:16])), binary.BigEndian.Uint16(u[0:2]))
	to = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), binary.BigEndian.Uint16(u[2:4]))
	return from, to, u[udpHeader:ulen], true
}

// Capture records the UDP datagrams from one address to another that a
// host receives on one interface, as a tap on its link would, without
// taking them from the socket they are for.
type Capture struct {
	fd       int
	from, to netip.AddrPort
	got      chan Datagram
	stop     chan struct{}
	done     chan struct{}
}

// captureBuffer is how many datagrams a Capture keeps.
const captureBuffer = 4096

// NewCapture starts capturing, on interface ifname of the calling thread's
// network namespace, the datagrams from `from` to `to` that arrive there.
// It keeps the first 4096; Close stops it.
func NewCapture(ifname string, from, to netip.AddrPort) (*Capture, error) {
	if err := checkAddrs(from, to); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("rawudp: capture on %s: %w", ifname, err)
	}
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("rawudp: capture on %s: packet socket: %w", ifname, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawudp: capture on %s: bind: %w", ifname, err)
	}
	// Reads wake up every 50ms, so that Close does not wait long.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50_000}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawudp: capture on %s: receive timeout: %w", ifname, err)
	}
	c := &Capture{fd: fd, from: from, to: to, got: make(chan Datagram, captureBuffer), stop: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *Capture) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, sa, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // the 50ms timeout, or an interrupted read
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_HOST {
			continue // sent by this host, or not for it
		}
		from, to, payload, ok := ParseIPv4UDP(buf[:n])
		if !ok || from != c.from || to != c.to {
			continue
		}
		select {
		case c.got <- Datagram{From: from, To: to, Payload: append([]byte(nil), payload...), At: time.Now()}:
		default: // full: keep the first ones
		}
	}
}

// Count returns how many datagrams the capture holds so far.
func (c *Capture) Count() int { return len(c.got) }

// Close stops the capture and returns what it recorded, in arrival order.
// Call it once.
func (c *Capture) Close() []Datagram {
	close(c.stop)
	<-c.done
	unix.Close(c.fd)
	close(c.got)
	var out []Datagram
	for d := range c.got {
		out = append(out, d)
	}
	return out
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
