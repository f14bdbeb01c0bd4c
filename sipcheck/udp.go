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

// optionsUDP runs one OPTIONS transaction on its own connected UDP socket.
// Connecting the socket makes the kernel deliver ICMP port-unreachable as
// ECONNREFUSED (sipgo's shared unconnected socket never sees it) and filters
// out datagrams from anyone but the target. The request is retransmitted per
// RFC 3261 Timer E (T1, doubling up to T2) until a final reply or the
// context's deadline.
func (p *Prober) optionsUDP(ctx context.Context) (Reply, error) {
	conn, err := p.dialer.DialContext(ctx, "udp", p.s.target.Addr())
	if err != nil {
		return Reply{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(aLongTimeAgo) })
	defer stop()

	local := conn.LocalAddr().(*net.UDPAddr)
	host := orDefault(p.s.localHost, local.AddrPort().Addr().Unmap().String())
	req, id := p.newRequest(&via{transport: "UDP", host: host, port: local.Port, rport: true}, host)
	msg := []byte(req.String())

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
		res, kind, err := parseReply(p.parser, buf[:n], id)
		switch kind {
		case replyFinal:
			return newReply(res, TransportUDP, time.Since(sent), local.String()), nil
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
