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

// newRequest builds an OPTIONS request with fresh IDs. With v nil no Via is
// added (sipgo's client adds its own); the returned txID then has no branch.
func (p *Prober) newRequest(v *via, fromHost string) (*sip.Request, txID) {
	id, tag := p.ids.draw(v != nil)
	return p.buildRequest(v, fromHost, id, tag), id
}

// buildRequest builds the OPTIONS request that carries id and the From tag.
// It is the one builder of the request: the UDP template (wire.go) is its
// output with the IDs rewritten in place.
func (p *Prober) buildRequest(v *via, fromHost string, id txID, tag string) *sip.Request {
	t := p.s.target
	req := sip.NewRequest(sip.OPTIONS, t.URI)
	if v != nil {
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
	from.Params.Add("tag", tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: t.URI.Scheme, User: t.URI.User, Host: t.URI.Host, Port: t.URI.Port}})
	callID := sip.CallIDHeader(id.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: id.cseq, MethodName: sip.OPTIONS})
	req.AppendHeader(sip.NewHeader("User-Agent", p.s.userAgent))
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	req.SetBody(nil) // Content-Length: 0, required on stream transports
	return req
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

// The IDs' lengths in hexadecimal digits, fixed so that the UDP template
// (wire.go) can rewrite them in place.
const (
	callIDHex = 32
	branchHex = 24 // after branchPrefix
	tagHex    = 16
)

// branchPrefix starts every branch we send (RFC 3261 8.1.1.7).
const branchPrefix = sip.RFC3261BranchMagicCookie + "."

// draw returns a transaction's IDs (with a branch if withBranch) and a From
// tag. The UDP template draws in the same order (udpRequest.next), so that
// two generators with one key give both builders the same IDs.
func (s *ids) draw(withBranch bool) (id txID, tag string) {
	id.callID = s.hex(callIDHex)
	id.cseq = s.cseq()
	if withBranch {
		id.branch = branchPrefix + s.hex(branchHex)
	}
	return id, s.hex(tagHex)
}

// hex returns n random hexadecimal digits; n is even.
func (s *ids) hex(n int) string {
	b := make([]byte, n)
	s.fill(b)
	return string(b)
}

// fill writes len(dst) random hexadecimal digits into dst, at most 64;
// len(dst) is even.
func (s *ids) fill(dst []byte) {
	var raw [32]byte
	r := raw[:len(dst)/2]
	s.mu.Lock()
	_, _ = s.g.Read(r) // never fails
	s.mu.Unlock()
	hex.Encode(dst, r)
}

// cseq returns a CSeq number in 10000..32767. Always five digits, so that
// the UDP template rewrites it in place without moving the bytes after it;
// the Call-ID and branch carry the entropy that tells one check from the
// next, and the bound stays the 0x7fff of before, far below RFC 3261's 2**31.
func (s *ids) cseq() uint32 {
	s.mu.Lock()
	v := s.g.Uint64()
	s.mu.Unlock()
	return uint32(v%(0x7fff-10000+1)) + 10000
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
	branch, _ := v.Params.Get("branch")
	kind, err = id.match(res.StatusCode, branch, string(*callID), cseq.SeqNo, string(cseq.MethodName))
	if err != nil {
		return nil, kind, err
	}
	return res, kind, nil
}

// match sorts a response (code 100..699) by the top Via's branch, Call-ID
// and CSeq against id, for sipgo's path and the fast one (wire.go) alike.
func (id txID) match(code int, branch, callID string, cseq uint32, method string) (replyKind, error) {
	if id.branch != "" && branch != id.branch {
		return replyStray, fmt.Errorf("branch %q is not ours", branch)
	}
	if callID != id.callID || cseq != id.cseq || method != string(sip.OPTIONS) {
		return replyStray, errors.New("Call-ID or CSeq is not ours")
	}
	if code < 200 {
		return replyProvisional, nil
	}
	return replyFinal, nil
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
