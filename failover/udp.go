package failover

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Path is one heartbeat path: this node's socket address and the peer's. The
// peer sends from its own Local address, so a packet is accepted on a path
// only if it comes from exactly Peer (address and port).
type Path struct {
	Local netip.AddrPort // bound here; port 0 picks one (tests)
	Peer  netip.AddrPort // sent to, and the only accepted source
}

// String returns "local->peer".
func (p Path) String() string { return p.Local.String() + "->" + p.Peer.String() }

// PathStats counts one UDP path's traffic. Foreign and Garbage packets are
// dropped before decoding; Overflow counts packets dropped because the
// receiver fell behind; Rcvbuf those the kernel dropped because the
// socket's receive buffer was full (a flood faster than the reader).
type PathStats struct {
	Sent, SendErrors, Received, Foreign, Garbage, Overflow, Rcvbuf uint64
}

// recvQueue is how many received packets wait for the reader before new ones
// are dropped (counted as Overflow): 64 packets is 12 s of one path at the
// default interval. With the node's filter installed only authentic, fresh
// heartbeats are queued, so a flood cannot fill it.
const recvQueue = 64

// recvBuffer is the socket receive buffer asked for: room for a burst, so
// that the kernel drops little while a reader is busy with a flood.
const recvBuffer = 1 << 20

type udpPath struct {
	cfg  Path
	conn *net.UDPConn

	sent, sendErrors, received, foreign, garbage, overflow, rcvbuf atomic.Uint64

	// kernelDrops is the socket's drop count as the kernel last told it
	// (SO_RXQ_OVFL); only the path's reader touches it.
	kernelDrops uint32
}

// UDPTransport is the Transport over real UDP sockets: one socket per path,
// bound to the path's local address.
type UDPTransport struct {
	paths  []*udpPath
	recv   chan Packet
	log    *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once
	filter atomic.Pointer[func(path int, data []byte) error]
}

var (
	_ Filtered = (*UDPTransport)(nil)
	_ Counted  = (*UDPTransport)(nil)
)

// SetFilter installs filter (see Filtered); nil removes it.
func (t *UDPTransport) SetFilter(filter func(path int, data []byte) error) {
	if filter == nil {
		t.filter.Store(nil)
		return
	}
	t.filter.Store(&filter)
}

// Drops returns each path's own drop counts (see Counted).
func (t *UDPTransport) Drops() []map[string]uint64 {
	out := make([]map[string]uint64, len(t.paths))
	for i, p := range t.paths {
		out[i] = map[string]uint64{}
		for reason, n := range map[string]uint64{"foreign": p.foreign.Load(), "garbage": p.garbage.Load(), "overflow": p.overflow.Load(), "rcvbuf": p.rcvbuf.Load()} {
			if n > 0 {
				out[i][reason] = n
			}
		}
	}
	return out
}

// ListenUDP binds one socket per path and starts receiving. log receives
// debug lines for dropped packets; nil discards them.
func ListenUDP(paths []Path, log *slog.Logger) (*UDPTransport, error) {
	if len(paths) == 0 {
		return nil, errors.New("failover: listen udp: no heartbeat paths")
	}
	conns := make([]*net.UDPConn, 0, len(paths))
	peers := make([]netip.AddrPort, 0, len(paths))
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i, p := range paths {
		if !p.Peer.IsValid() || p.Peer.Port() == 0 {
			closeAll()
			return nil, fmt.Errorf("failover: listen udp path %d %s: peer address needs a host and port", i, p)
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(p.Local))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("failover: listen udp path %d %s: %w", i, p, err)
		}
		_ = conn.SetReadBuffer(recvBuffer) // best effort: the kernel caps it at rmem_max
		conns, peers = append(conns, conn), append(peers, p.Peer)
	}
	return NewUDP(conns, peers, log)
}

// NewUDP starts a transport on sockets that are already bound, one per path,
// sending to and accepting only from peers[i] on conns[i]. It takes ownership
// of the sockets.
func NewUDP(conns []*net.UDPConn, peers []netip.AddrPort, log *slog.Logger) (*UDPTransport, error) {
	if len(conns) == 0 || len(conns) != len(peers) {
		return nil, fmt.Errorf("failover: new udp transport: %d sockets for %d peers", len(conns), len(peers))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &UDPTransport{recv: make(chan Packet, recvQueue), log: log}
	for i, c := range conns {
		local := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if err := reportDrops(c); err != nil {
			log.Warn("failover: heartbeat socket will not report the datagrams the kernel drops", "path", i, "err", err)
		}
		t.paths = append(t.paths, &udpPath{cfg: Path{Local: local, Peer: peers[i]}, conn: c})
	}
	for i, p := range t.paths {
		t.wg.Add(1)
		go t.read(i, p)
	}
	return t, nil
}

func (t *UDPTransport) closeConns() {
	for _, p := range t.paths {
		p.conn.Close()
	}
}

// LocalAddr returns the bound address of path i (useful with port 0).
func (t *UDPTransport) LocalAddr(i int) netip.AddrPort {
	return t.paths[i].conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (t *UDPTransport) read(i int, p *udpPath) {
	defer t.wg.Done()
	// A ring of buffers instead of a copy per packet: a slot is written
	// again only after recvQueue+1 later packets of this path were queued,
	// when at most recvQueue of them wait in the queue — the receiver has
	// taken the packet after it (see Packet).
	ring := make([]byte, (recvQueue+2)*(MaxPacket+1))
	slot := 0
	oob := make([]byte, unix.CmsgSpace(4))
	peer := p.cfg.Peer
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	for {
		buf := ring[slot*(MaxPacket+1) : (slot+1)*(MaxPacket+1)]
		n, oobn, _, from, err := p.conn.ReadMsgUDPAddrPort(buf, oob)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			t.log.Debug("failover: heartbeat read failed", "path", i, "err", err)
			continue
		}
		if drops, ok := kernelDrops(oob[:oobn]); ok && drops != p.kernelDrops {
			p.rcvbuf.Add(uint64(drops - p.kernelDrops)) // modulo 2^32, as the kernel counts
			p.kernelDrops = drops
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		switch {
		case from != peer:
			p.foreign.Add(1)
			t.log.Debug("failover: dropped heartbeat packet", "path", i, "from", from, "target", peer, "reason", "foreign")
			continue
		case n > MaxPacket || n < headerSize || !bytes.Equal(buf[:4], magic[:]):
			p.garbage.Add(1)
			t.log.Debug("failover: dropped heartbeat packet", "path", i, "from", from, "bytes", n, "reason", "garbage")
			continue
		}
		p.received.Add(1)
		if f := t.filter.Load(); f != nil {
			if err := (*f)(i, buf[:n]); err != nil {
				continue // counted by the filter
			}
		}
		select {
		case t.recv <- Packet{Path: i, Data: buf[:n:n]}:
			slot = (slot + 1) % (recvQueue + 2)
		default:
			p.overflow.Add(1)
			t.log.Debug("failover: dropped heartbeat packet", "path", i, "from", from, "reason", "overflow")
		}
	}
}

// Send writes b to the peer on every path.
func (t *UDPTransport) Send(b []byte) error {
	var errs []error
	for i, p := range t.paths {
		if _, err := p.conn.WriteToUDPAddrPort(b, p.cfg.Peer); err != nil {
			p.sendErrors.Add(1)
			errs = append(errs, fmt.Errorf("failover: send heartbeat path %d %s: %w", i, p.cfg, err))
			continue
		}
		p.sent.Add(1)
	}
	return errors.Join(errs...)
}

// Recv returns the channel of received packets (see Transport).
func (t *UDPTransport) Recv() <-chan Packet { return t.recv }

// Close closes every socket, waits for the readers and closes the Recv
// channel. Calling it again does nothing.
func (t *UDPTransport) Close() error {
	t.once.Do(func() {
		t.closeConns()
		t.wg.Wait()
		close(t.recv)
	})
	return nil
}

// Stats returns each path's counters, by path index.
func (t *UDPTransport) Stats() []PathStats {
	s := make([]PathStats, len(t.paths))
	for i, p := range t.paths {
		s[i] = PathStats{
			Sent: p.sent.Load(), SendErrors: p.sendErrors.Load(), Received: p.received.Load(),
			Foreign: p.foreign.Load(), Garbage: p.garbage.Load(), Overflow: p.overflow.Load(), Rcvbuf: p.rcvbuf.Load(),
		}
	}
	return s
}

// reportDrops asks the kernel to tell, with every datagram read from c, how
// many datagrams it has dropped on c's socket so far for lack of room in its
// receive buffer (SO_RXQ_OVFL).
func reportDrops(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// kernelDrops finds the SO_RXQ_OVFL count in a datagram's control messages:
// the drops of its socket so far, modulo 2^32. The kernel sends it only
// once there was a drop.
func kernelDrops(oob []byte) (uint32, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := uint64(h.Len) // uint32 on 32-bit systems
		if size < unix.SizeofCmsghdr || size > uint64(len(oob)) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && size >= uint64(unix.CmsgLen(4)) {
			return binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]), true
		}
		oob = oob[min(unix.CmsgSpace(int(size)-unix.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}
