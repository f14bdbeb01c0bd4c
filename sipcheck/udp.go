package sipcheck

import (
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// optionsUDP runs one OPTIONS transaction on a connected UDP socket of the
// prober's. Connecting the socket makes the kernel deliver ICMP
// port-unreachable as ECONNREFUSED (sipgo's shared unconnected socket never
// sees it) and filters out datagrams from anyone but the target. The
// request is retransmitted per RFC 3261 Timer E (T1, doubling up to T2)
// until a final reply or the context's deadline.
//
// A transaction that got its final reply leaves the socket for the next
// one (udpConn): a check then costs no socket, connect and close — the
// bulk of an idle node's probing. Any error closes it, so that the next
// check starts on a fresh socket as before; a late reply to an earlier
// transaction on a kept socket is a stray and skipped. The request is the
// socket's template with fresh IDs, and replies are read by parseWire where
// it can (wire.go): a check at rest runs no sipgo code.
func (p *Prober) optionsUDP(ctx context.Context) (_ Reply, err error) {
	sock, err := p.udpConn(ctx)
	if err != nil {
		return Reply{}, err
	}
	conn := sock.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(aLongTimeAgo) })
	defer func() {
		// Kept only if the AfterFunc never ran: it could otherwise wake
		// the next transaction's read. The read deadline goes with the
		// transaction: left set, its timer would fire for nothing after
		// the reply (at the check's timeout, 200ms into every 200ms at
		// the defaults), a wake-up of the whole process per check.
		if stop() && err == nil && conn.SetReadDeadline(time.Time{}) == nil {
			p.keepUDP(sock)
			return
		}
		conn.Close()
	}()

	id := sock.req.next(p.ids)
	msg := sock.req.msg

	deadline, _ := ctx.Deadline()
	sent := time.Now()
	if _, err := conn.Write(msg); err != nil {
		return Reply{}, err
	}
	interval := timerT1
	next := sent.Add(interval)

	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	var stray error // last non-matching reply, reported if nothing better arrives
	for {
		if err := conn.SetReadDeadline(earliest(next, deadline)); err != nil {
			return Reply{}, err
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return Reply{}, ctx.Err() // the AfterFunc may have run before SetReadDeadline
		}
		n, err := conn.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return Reply{}, err
			}
			now := time.Now()
			if errors.Is(ctx.Err(), context.Canceled) {
				return Reply{}, ctx.Err()
			}
			if !now.Before(deadline) || ctx.Err() != nil {
				if stray != nil {
					return Reply{}, errBadReply(stray)
				}
				return Reply{}, context.DeadlineExceeded
			}
			if _, err := conn.Write(msg); err != nil {
				return Reply{}, err
			}
			interval = min(2*interval, timerT2)
			next = now.Add(interval)
			continue
		}
		if isKeepAlive(buf[:n]) {
			continue
		}
		head, kind, err := readReply(p.parser, buf[:n], id)
		switch kind {
		case replyFinal:
			return head.reply(TransportUDP, time.Since(sent), sock.req.local), nil
		case replyProvisional:
			// RFC 3261 17.1.2.2: in Proceeding, retransmit every T2.
			interval = timerT2
			next = time.Now().Add(interval)
		case replyGarbage:
			return Reply{}, errBadReply(err)
		case replyStray:
			p.log.Debug("stray reply dropped", "target", p.s.target.String(), "err", err)
			stray = err
		}
	}
}

// udpSocket is a connected UDP socket and the request template built for
// its local address.
type udpSocket struct {
	conn *net.UDPConn
	req  *udpRequest
}

// udpConn returns the socket a finished transaction left, or a new one
// connected to the target, with its request template.
func (p *Prober) udpConn(ctx context.Context) (*udpSocket, error) {
	p.mu.Lock()
	s := p.udp
	p.udp = nil
	p.mu.Unlock()
	if s != nil {
		return s, nil
	}
	conn, err := p.dialer.DialContext(ctx, "udp", p.s.target.Addr())
	if err != nil {
		return nil, err
	}
	c := conn.(*net.UDPConn)
	req, err := p.newUDPRequest(c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		c.Close()
		return nil, err
	}
	return &udpSocket{conn: c, req: req}, nil
}

// keepUDP keeps s for the next transaction; a prober closed meanwhile, or
// one that keeps another already (concurrent checks), closes it.
func (p *Prober) keepUDP(s *udpSocket) {
	p.mu.Lock()
	if p.udp == nil && !p.closed.Load() {
		p.udp, s = s, nil
	}
	p.mu.Unlock()
	if s != nil {
		s.conn.Close()
	}
}

// isKeepAlive reports a CRLF keep-alive (RFC 5626 3.5.1) or an empty datagram.
func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 {
			return false
		}
	}
	return true
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
