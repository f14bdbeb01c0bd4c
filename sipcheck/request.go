package sipcheck

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// txID identifies one OPTIONS transaction in its replies (RFC 3261 17.1.3:
// the top Via branch and the CSeq method; Call-ID and CSeq number too, since
// some PBXs mangle branches).
type txID struct {
	branch string
	callID string
	cseq   uint32
}

// via is the sent-by of the top Via header. An empty host lets sipgo's
// transport fill in the connection's local address.
type via struct {
	transport string // UDP, TCP, TLS
	host      string
	port      int
	rport     bool
}

// newRequest builds an OPTIONS request. With v nil no Via is added (sipgo's
// client adds its own); the returned txID then has no branch.
func (p *Prober) newRequest(v *via, fromHost string) (*sip.Request, txID) {
	t := p.s.target
	req := sip.NewRequest(sip.OPTIONS, t.URI)
	id := txID{callID: p.ids.hex(16), cseq: p.ids.cseq()}
	if v != nil {
		id.branch = sip.RFC3261BranchMagicCookie + "." + p.ids.hex(12)
		h := &sip.ViaHeader{
			ProtocolName:    "SIP",
			ProtocolVersion: "2.0",
			Transport:       v.transport,
			Host:            v.host,
			Port:            v.port,
		}
		h.Params.Add("branch", id.branch)
		if v.rport {
			h.Params.Add("rport", "")
		}
		req.AppendHeader(h)
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: t.URI.Scheme, User: p.s.fromUser, Host: fromHost}}
	from.Params.Add("tag", p.ids.hex(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: t.URI.Scheme, User: t.URI.User, Host: t.URI.Host, Port: t.URI.Port}})
	callID := sip.CallIDHeader(id.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: id.cseq, MethodName: sip.OPTIONS})
	req.AppendHeader(sip.NewHeader("User-Agent", p.s.userAgent))
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	req.SetBody(nil) // Content-Length: 0, required on stream transports
	return req, id
}

// ids draws a prober's Call-IDs, branches, tags and CSeq numbers from a
// ChaCha8 generator (cryptographically strong) keyed once from crypto/rand,
// so that no one who cannot read the probe's packets can forge its replies.
// Reading crypto/rand for each of them ran its DRBG and a getrandom call
// four times a check, and kept that code resident on an idle node
// (docs/BENCHMARKS.md, "Memory at rest"). Safe for concurrent use.
type ids struct {
	mu sync.Mutex
	g  *rand.ChaCha8
}

func newIDs() *ids {
	var key [32]byte
	_, _ = crand.Read(key[:]) // never fails
	return &ids{g: rand.NewChaCha8(key)}
}

// hex returns n random bytes in hexadecimal.
func (s *ids) hex(n int) string {
	b := make([]byte, n)
	s.mu.Lock()
	_, _ = s.g.Read(b) // never fails
	s.mu.Unlock()
	return hex.EncodeToString(b)
}

// cseq returns a CSeq number in 1..0x7fff.
func (s *ids) cseq() uint32 {
	s.mu.Lock()
	v := s.g.Uint64()
	s.mu.Unlock()
	return uint32(v%0x7fff) + 1
}

// replyKind sorts what arrived on a probe's socket.
type replyKind int

const (
	replyFinal       replyKind = iota // the final response to our request
	replyProvisional                  // a 1xx to our request
	replyStray                        // a well-formed message that is not a response to our request
	replyGarbage                      // bytes that do not parse as a SIP response
)

// errMalformed marks a reply that could not be parsed or lacks the headers
// every response must carry.
var errMalformed = errors.New("malformed reply")

// parseReply parses one datagram and sorts it against id.
func parseReply(par *sip.Parser, data []byte, id txID) (res *sip.Response, kind replyKind, err error) {
	msg, err := parseSafe(par, data)
	if err != nil {
		return nil, replyGarbage, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return matchReply(msg, id)
}

// parseSafe runs sipgo's parser, turning a panic on hostile input into an
// error: garbage on a socket must never crash pbxha.
func parseSafe(par *sip.Parser, data []byte) (msg sip.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("parser panic: %v", r)
		}
	}()
	return par.ParseSIP(data)
}

// matchReply sorts a parsed message against id. A response whose Via branch,
// Call-ID or CSeq differ is stray (a late reply to an earlier check, say); a
// response without those headers is garbage.
func matchReply(msg sip.Message, id txID) (res *sip.Response, kind replyKind, err error) {
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, replyStray, errors.New("a request, not a response")
	}
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return nil, replyGarbage, fmt.Errorf("%w: status code %d", errMalformed, res.StatusCode)
	}
	v, cseq, callID := res.Via(), res.CSeq(), res.CallID()
	if v == nil || cseq == nil || callID == nil {
		return nil, replyGarbage, fmt.Errorf("%w: missing Via, CSeq or Call-ID", errMalformed)
	}
	if id.branch != "" {
		if b, _ := v.Params.Get("branch"); b != id.branch {
			return nil, replyStray, fmt.Errorf("branch %q is not ours", b)
		}
	}
	if string(*callID) != id.callID || cseq.SeqNo != id.cseq || cseq.MethodName != sip.OPTIONS {
		return nil, replyStray, errors.New("Call-ID or CSeq is not ours")
	}
	if res.StatusCode < 200 {
		return res, replyProvisional, nil
	}
	return res, replyFinal, nil
}

// oneLine makes a reason phrase or header from the wire safe for a log line.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.TrimSpace(s)
}
