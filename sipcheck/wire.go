package sipcheck

// The UDP check's own wire path, there for memory at rest (issue 13: a node
// at rest in 15 MiB). At the defaults a node sends OPTIONS every 200 ms;
// building each request with sipgo and parsing each reply with sipgo's full
// parser kept sipgo's code, type descriptors and their pclntab pages
// resident on an idle node, pages nothing else there touches (each 4 KiB
// touched keeps a 64 KiB fault-around block). So over UDP:
//
//   - sipgo builds the request once per socket (buildRequest, with
//     placeholder IDs of the real lengths) and each check writes its fresh
//     IDs over the placeholders: the bytes on the wire stay sipgo's
//     (TestUDPRequestTemplate);
//   - parseWire reads a reply of the plain shape servers send and declines
//     anything else, which goes to sipgo's parser (parseReply) as before.
//     sipgo's path stays the reference and the judge of garbage and strays:
//     where parseWire accepts, FuzzFastReply requires both to give the same
//     verdict, code, reason and server.
//
// TCP and TLS checks keep sipgo's path throughout.

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// udpRequest is the OPTIONS request of one connected UDP socket, whose local
// address stays fixed while the socket is kept.
type udpRequest struct {
	msg   []byte // buildRequest's output; each check writes its IDs in place
	local string // the socket's local address, for Reply.Local
	// Offsets in msg of the branch after branchPrefix, the From tag, the
	// Call-ID and the CSeq number.
	branch, tag, callID, cseq int
}

// newUDPRequest builds the request template for a socket bound to local.
func (p *Prober) newUDPRequest(local *net.UDPAddr) (*udpRequest, error) {
	host := orDefault(p.s.localHost, local.AddrPort().Addr().Unmap().String())
	id := txID{
		branch: branchPrefix + strings.Repeat("x", branchHex),
		callID: strings.Repeat("x", callIDHex),
		cseq:   10000, // as wide as every CSeq drawn
	}
	tag := strings.Repeat("x", tagHex)
	req := p.buildRequest(&via{transport: "UDP", host: host, port: local.Port, rport: true}, host, id, tag)
	r := &udpRequest{msg: []byte(req.String()), local: local.String()}
	var err error
	// find returns the offset of placeholder after before in the header
	// line named header: the first line of that name (no value holds a
	// CRLF), where nothing else looks alike (the host and user part hold no
	// ';').
	find := func(header, before, placeholder string) int {
		start := bytes.Index(r.msg, []byte("\r\n"+header+": "))
		if start < 0 {
			err = fmt.Errorf("request template: no %s header", header)
			return 0
		}
		start += 2
		line, _, _ := bytes.Cut(r.msg[start:], []byte("\r\n"))
		i := bytes.Index(line, []byte(before+placeholder))
		if i < 0 {
			err = fmt.Errorf("request template: no %s%s in the %s header", before, placeholder, header)
			return 0
		}
		return start + i + len(before)
	}
	r.branch = find("Via", ";branch="+branchPrefix, id.branch[len(branchPrefix):])
	r.tag = find("From", ";tag=", tag)
	r.callID = find("Call-ID", "", id.callID)
	r.cseq = find("CSeq", "", "10000 ")
	if err != nil {
		return nil, err
	}
	return r, nil
}

// next writes fresh IDs into the request and returns them. It draws them in
// ids.draw's order, so that the same generator state gives the same request
// as newRequest.
func (r *udpRequest) next(g *ids) txID {
	g.fill(r.msg[r.callID : r.callID+callIDHex])
	c := g.cseq()
	g.fill(r.msg[r.branch : r.branch+branchHex])
	g.fill(r.msg[r.tag : r.tag+tagHex])
	n := c
	for i := r.cseq + 4; i >= r.cseq; i-- { // five digits (ids.cseq)
		r.msg[i] = '0' + byte(n%10)
		n /= 10
	}
	return txID{
		branch: string(r.msg[r.branch-len(branchPrefix) : r.branch+branchHex]),
		callID: string(r.msg[r.callID : r.callID+callIDHex]),
		cseq:   c,
	}
}

// readReply sorts one datagram against id: by parseWire when it accepts the
// datagram, else by sipgo's parser.
func readReply(par *sip.Parser, data []byte, id txID) (replyHead, replyKind, error) {
	if w, ok := parseWire(data); ok {
		kind, err := id.match(w.code, w.branch, w.callID, w.cseq, w.method)
		return w.replyHead, kind, err
	}
	res, kind, err := parseReply(par, data, id)
	if res == nil {
		return replyHead{}, kind, err
	}
	return headOf(res), kind, err
}

// maxWireReply bounds the datagrams parseWire reads; an OPTIONS reply with
// Allow, Supported and the like takes well under 1 KiB.
const maxWireReply = 4096

// wireReply is what parseWire reads of a response.
type wireReply struct {
	replyHead
	branch string // the top Via's branch parameter
	callID string
	cseq   uint32
	method string // of the CSeq
}

// parseWire reads one datagram holding a response of the plain shape servers
// send: "SIP/2.0 NNN reason", header lines of printable ASCII each ending in
// CRLF, a blank line, a body no longer than Content-Length says. It declines
// (ok false) anything else: folded lines, a missing or repeated Call-ID or
// CSeq, a top Via without one branch, and any header that sipgo's parser
// reads (Via, From, To, Contact, CSeq, ...) in a form not known to parse
// there, so that sipgo never rejects what parseWire accepts. It never
// panics.
func parseWire(data []byte) (w wireReply, ok bool) {
	if len(data) > maxWireReply {
		return w, false
	}
	s := string(data) // the one allocation: every field is a part of it
	line, s, ok := cutLine(s)
	if !ok || !statusLine(line, &w) {
		return w, false
	}
	var (
		via, callID, cseq, server, ua bool
		userAgent                     string
		length                        = -1
	)
	for {
		if line, s, ok = cutLine(s); !ok {
			return w, false
		}
		if line == "" {
			break
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !all(name, isTokenChar) { // a folded line starts with a space
			return w, false
		}
		value = strings.Trim(value, " ")
		switch {
		case is(name, "via", "v"):
			branch, ok := viaBranch(value)
			if !ok {
				return w, false
			}
			if !via {
				w.branch, via = branch, true
			}
		case is(name, "call-id", "i"):
			if callID || value == "" {
				return w, false
			}
			w.callID, callID = value, true
		case is(name, "cseq", ""):
			if cseq || !cseqValue(value, &w) {
				return w, false
			}
			cseq = true
		case is(name, "content-length", "l"):
			if length >= 0 || !digits(value, 5) {
				return w, false
			}
			length = atoi(value)
		case is(name, "content-type", "c"):
			if value == "" {
				return w, false
			}
		case is(name, "max-forwards", ""):
			if !digits(value, 9) {
				return w, false
			}
		case is(name, "from", "f"), is(name, "to", "t"), is(name, "contact", "m"):
			if !nameAddr(value) {
				return w, false
			}
		case is(name, "route", ""), is(name, "record-route", ""), is(name, "refer-to", ""), is(name, "referred-by", ""):
			return w, false // sipgo parses these; no OPTIONS reply needs them
		case is(name, "server", ""):
			if !server {
				w.server, server = value, true
			}
		case is(name, "user-agent", ""):
			if !ua {
				userAgent, ua = value, true
			}
		}
	}
	if !via || !callID || !cseq || length > len(s) {
		return w, false
	}
	if !server {
		w.server = userAgent
	}
	return w, true
}

// cutLine cuts the line before the first CRLF off s; ok is false without a
// CRLF, or for a line with a byte outside printable ASCII (tabs included).
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\r')
	if i < 0 || i+1 == len(s) || s[i+1] != '\n' {
		return "", "", false
	}
	for j := range i {
		if s[j] < 0x20 || s[j] > 0x7e {
			return "", "", false
		}
	}
	return s[:i], s[i+2:], true
}

// statusLine reads "SIP/2.0 NNN reason" with a code of 100..699.
func statusLine(line string, w *wireReply) bool {
	if len(line) < 12 || line[:8] != "SIP/2.0 " || line[11] != ' ' ||
		line[8] < '1' || line[8] > '6' || !digits(line[8:11], 3) {
		return false
	}
	w.code, w.reason = atoi(line[8:11]), line[12:]
	// sipgo reads "SIP/2.0 200 sip:x" as a request line.
	return len(w.reason) < 3 || !strings.EqualFold(w.reason[:3], "sip")
}

// cseqValue reads "NUMBER METHOD" with a number of at most 2**31-1.
func cseqValue(v string, w *wireReply) bool {
	num, method, ok := strings.Cut(v, " ")
	if !ok || !digits(num, 10) || !all(method, isLetter) {
		return false
	}
	var n uint64
	for i := range len(num) {
		n = n*10 + uint64(num[i]-'0')
	}
	if n > 1<<31-1 {
		return false
	}
	w.cseq, w.method = uint32(n), method
	return true
}

// viaBranch checks every value of a Via line and returns the first one's
// branch.
func viaBranch(v string) (branch string, ok bool) {
	for first := true; ; first = false {
		parm, rest, more := strings.Cut(v, ",")
		b, ok := viaParm(parm)
		if !ok {
			return "", false
		}
		if first {
			branch = b
		}
		if !more {
			return branch, true
		}
		v = strings.TrimLeft(rest, " ")
	}
}

// viaParm reads "SIP/2.0/TRANSPORT host[:port];params" with exactly one
// branch parameter.
func viaParm(v string) (branch string, ok bool) {
	rest, ok := strings.CutPrefix(v, "SIP/2.0/")
	if !ok {
		return "", false
	}
	transport, rest, ok := strings.Cut(rest, " ")
	if !ok || !all(transport, isLetter) {
		return "", false
	}
	hostport, params, ok := strings.Cut(rest, ";") // without a ';' sipgo reads no parameter
	if !ok || !hostPort(hostport) {
		return "", false
	}
	found := false
	for {
		p, rest, more := strings.Cut(params, ";")
		name, value, hasValue := strings.Cut(p, "=")
		if !all(name, isTokenChar) || hasValue && !all(value, isViaValueChar) {
			return "", false
		}
		if name == "branch" {
			if found || !hasValue {
				return "", false
			}
			branch, found = value, true
		}
		if !more {
			return branch, found
		}
		params = rest
	}
}

// nameAddr reads the value of From, To or Contact: an optional display name
// (tokens, or a quoted string without escapes), a SIP URI in angle brackets,
// header parameters.
func nameAddr(v string) bool {
	switch {
	case strings.HasPrefix(v, `"`):
		end := strings.IndexByte(v[1:], '"')
		if end < 0 || strings.ContainsAny(v[1:1+end], `\<>,;`) {
			return false
		}
		v = strings.TrimLeft(v[2+end:], " ")
	case !strings.HasPrefix(v, "<"):
		i := strings.IndexByte(v, '<')
		if i < 0 || !all(v[:i], func(c byte) bool { return c == ' ' || isTokenChar(c) }) {
			return false
		}
		v = v[i:]
	}
	if !strings.HasPrefix(v, "<") {
		return false
	}
	uri, params, ok := strings.Cut(v[1:], ">")
	return ok && sipURI(uri) && tokenParams(params)
}

// sipURI reads sip:[user@]host[:port][;params], or sips:.
func sipURI(u string) bool {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || !strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips") {
		return false
	}
	if user, host, ok := strings.Cut(rest, "@"); ok {
		if !all(user, isTokenChar) {
			return false
		}
		rest = host
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		return hostPort(rest[:i]) && tokenParams(rest[i:])
	}
	return hostPort(rest)
}

// tokenParams reads *(";" token ["=" token]).
func tokenParams(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ';' {
		return false
	}
	for s = s[1:]; ; {
		p, rest, more := strings.Cut(s, ";")
		name, value, hasValue := strings.Cut(p, "=")
		if !all(name, isTokenChar) || hasValue && !all(value, isTokenChar) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// hostPort reads host[:port]: a host name, or an IPv6 address in brackets.
func hostPort(s string) bool {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		addr, port, ok := strings.Cut(rest, "]")
		// sipgo looks for the ']' of a URI's host in its first 42 bytes.
		if !ok || len(addr) > 39 || !all(addr, isIPv6Char) {
			return false
		}
		return port == "" || port[0] == ':' && digits(port[1:], 5)
	}
	host, port, hasPort := strings.Cut(s, ":")
	return all(host, isHostChar) && (!hasPort || digits(port, 5))
}

// all reports whether s is not empty and f holds for each of its bytes.
func all(s string, f func(byte) bool) bool {
	for i := range len(s) {
		if !f(s[i]) {
			return false
		}
	}
	return s != ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// isTokenChar reports a character of an RFC 3261 token.
func isTokenChar(c byte) bool {
	return isLetter(c) || isDigit(c) || strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// isViaValueChar also admits addresses, as in received=::1.
func isViaValueChar(c byte) bool { return isTokenChar(c) || c == ':' || c == '[' || c == ']' }

func isHostChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '.' || c == '-' || c == '_' }
func isIPv6Char(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.'
}

// digits reports 1 to max decimal digits.
func digits(s string, max int) bool { return len(s) <= max && all(s, isDigit) }

// atoi reads what digits accepted with a max of at most 9.
func atoi(s string) int {
	n := 0
	for i := range len(s) {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// is reports whether a header name is long or its compact form short,
// ignoring case.
func is(name, long, short string) bool {
	return strings.EqualFold(name, long) || short != "" && strings.EqualFold(name, short)
}
