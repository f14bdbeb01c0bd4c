package sipcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// optionsStream runs one OPTIONS transaction on a new TCP or TLS connection
// and closes it: a PBX that still serves an old connection but no longer
// accepts new ones fails here. The reply is read with sipgo's stream parser;
// bytes that do not frame as SIP fail the check as a bad response at once.
func (p *Prober) optionsStream(ctx context.Context) (Reply, error) {
	t := p.s.target
	var (
		conn net.Conn
		err  error
	)
	if t.Transport == TransportTLS {
		d := tls.Dialer{NetDialer: &p.dialer, Config: p.s.tls}
		conn, err = d.DialContext(ctx, "tcp", t.Addr())
	} else {
		conn, err = p.dialer.DialContext(ctx, "tcp", t.Addr())
	}
	if err != nil {
		return Reply{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return Reply{}, err
	}

	local := conn.LocalAddr().(*net.TCPAddr)
	host := orDefault(p.s.localHost, local.AddrPort().Addr().Unmap().String())
	proto := "TCP"
	if t.Transport == TransportTLS {
		proto = "TLS"
	}
	req, id := p.newRequest(&via{transport: proto, host: host, port: local.Port}, host)
	sent := time.Now()
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return Reply{}, p.streamErr(ctx, err)
	}

	stream := p.parser.NewSIPStream()
	defer stream.Close()
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	var stray error // last non-matching reply, reported if nothing better arrives
	for {
		n, err := conn.Read(buf)
		if n > 0 && !(stream.Buffer().Len() == 0 && isKeepAlive(buf[:n])) {
			_, _ = stream.Write(buf[:n])
			// Parse every whole message in the buffer; what is left (none,
			// or part of one) waits for the next segment.
			for stream.Buffer().Len() > 0 {
				msg, _, perr := stream.ParseNext()
				if errors.Is(perr, io.ErrUnexpectedEOF) {
					break // need more bytes
				}
				if perr != nil {
					return Reply{}, errBadReply(perr)
				}
				res, kind, merr := matchReply(msg, id)
				switch kind {
				case replyFinal:
					return newReply(res, t.Transport, time.Since(sent), local.String()), nil
				case replyGarbage:
					return Reply{}, errBadReply(merr)
				case replyStray:
					p.log.Debug("stray message dropped", "target", t.String(), "err", merr)
					stray = merr
				}
			}
		}
		if err != nil {
			if stray != nil && !errors.Is(ctx.Err(), context.Canceled) {
				return Reply{}, errBadReply(stray) // as over UDP: a foreign reply, then nothing
			}
			if errors.Is(err, io.EOF) {
				return Reply{}, errClosed
			}
			return Reply{}, p.streamErr(ctx, err)
		}
	}
}

// streamErr turns a deadline error on the connection into the context's
// verdict, so a cancelled check does not read as a timeout.
func (p *Prober) streamErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return err
}
