package siptest

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// call is one dialog the server answered, keyed by Call-ID.
type call struct {
	toTag   string
	started time.Time
	acked   bool
	port    int // the audio port its SDP answer offered
}

// The call side answers INVITE like a PBX that picks up at once: 100
// Trying, 180 Ringing, then 200 OK with an SDP answer and a Contact; it
// keeps the dialog until a BYE (answered 200) and answers a re-INVITE or
// an UPDATE in the dialog with 200 OK (SDP when the request offered one),
// and anything in a dialog it does not know with 481. The behaviour set
// for OPTIONS applies: silent answers nothing, garbage answers garbage, a
// code of 300 or more rejects the INVITE with that code, a delay delays
// the final answer.

func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag := toTag(req); tag != "" {
		s.inDialog(req, tx, tag)
		return
	}
	b, ok := s.begin(req, tx)
	if !ok {
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))
	if b.delay > 0 && !s.wait(b.delay) {
		return
	}
	if b.code >= 300 {
		_ = tx.Respond(s.response(req, b.code, b.reason, ""))
		return
	}
	id := req.CallID().Value()
	now := time.Now()
	s.mu.Lock()
	c, known := s.calls[id]
	if !known {
		s.nextPort += 2
		c = &call{toTag: newTag(id, s.nextPort), started: now, port: 16384 + s.nextPort%16000}
		s.calls[id] = c
		s.processed++
	}
	s.expire(now)
	s.mu.Unlock()
	// A retransmitted INVITE whose 200 was lost gets the same answer again.
	ringing := s.response(req, 180, "Ringing", c.toTag)
	_ = tx.Respond(ringing)
	_ = tx.Respond(s.answer(req, c))
}

// inDialog answers a re-INVITE.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction, tag string) {
	if _, ok := s.begin(req, tx); !ok {
		return
	}
	c := s.dialog(req, tag)
	if c == nil {
		_ = tx.Respond(s.response(req, 481, "Call/Transaction Does Not Exist", ""))
		return
	}
	_ = tx.Respond(s.answer(req, c))
}

func (s *Server) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := s.begin(req, tx); !ok {
		return
	}
	c := s.dialog(req, toTag(req))
	if c == nil {
		_ = tx.Respond(s.response(req, 481, "Call/Transaction Does Not Exist", ""))
		return
	}
	if len(req.Body()) == 0 {
		_ = tx.Respond(s.response(req, 200, "OK", c.toTag))
		return
	}
	_ = tx.Respond(s.answer(req, c))
}

func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.mode == modeSilent {
		return
	}
	if c := s.calls[req.CallID().Value()]; c != nil && c.toTag == toTag(req) {
		c.acked = true
	}
}

func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := s.begin(req, tx); !ok {
		return
	}
	tag := toTag(req)
	if s.dialog(req, tag) == nil {
		_ = tx.Respond(s.response(req, 481, "Call/Transaction Does Not Exist", ""))
		return
	}
	s.mu.Lock()
	delete(s.calls, req.CallID().Value())
	s.mu.Unlock()
	_ = tx.Respond(s.response(req, 200, "OK", tag))
}

// handleCancel: every INVITE is answered at once, so a CANCEL always comes
// too late; RFC 3261 §9.2 answers it 200 and leaves the call alone.
func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := s.begin(req, tx); !ok {
		return
	}
	_ = tx.Respond(s.response(req, 200, "OK", ""))
}

// begin counts and records a request and returns the behaviour to answer
// it with; false when it must go unanswered (silent, garbage).
func (s *Server) begin(req *sip.Request, tx sip.ServerTransaction) (behaviour, bool) {
	s.mu.Lock()
	b := s.b
	s.count++
	s.received = append(s.received, requestOf(req))
	if len(s.received) > maxKept {
		s.received = s.received[len(s.received)-maxKept:]
	}
	s.mu.Unlock()
	switch b.mode {
	case modeSilent:
		return b, false
	case modeGarbage:
		s.writeRaw(req, tx, b.garbage)
		return b, false
	}
	return b, true
}

// dialog returns the live call that req's Call-ID and To tag name, or nil.
func (s *Server) dialog(req *sip.Request, tag string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	c := s.calls[req.CallID().Value()]
	if c == nil || tag == "" || c.toTag != tag {
		return nil
	}
	return c
}

// expire drops the calls older than MaxCall, as a PBX's media timeout ends
// a call whose other side went away. Called with mu held.
func (s *Server) expire(now time.Time) {
	if s.maxCall <= 0 {
		return
	}
	for id, c := range s.calls {
		if now.Sub(c.started) >= s.maxCall {
			delete(s.calls, id)
		}
	}
}

// response is a reply to req with the given To tag (none when empty) and
// the Server header.
func (s *Server) response(req *sip.Request, code int, reason, tag string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && tag != "" {
		to.Params.Add("tag", tag)
	}
	res.AppendHeader(sip.NewHeader("Server", "pbxha-siptest"))
	return res
}

// answer is the 200 OK with Contact and SDP for an INVITE, re-INVITE or
// UPDATE of call c.
func (s *Server) answer(req *sip.Request, c *call) *sip.Response {
	res := s.response(req, 200, "OK", c.toTag)
	host, _, _ := net.SplitHostPort(s.contact)
	res.AppendHeader(sip.NewHeader("Contact", "<sip:siptest@"+s.contact+">"))
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.SetBody([]byte(SDP(host, c.port)))
	return res
}

// SDP is the answer the server gives: audio on host:port, PCMU, PCMA and
// telephone-event.
func SDP(host string, port int) string {
	ipv := "IP4"
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		ipv = "IP6"
	}
	return "v=0\r\n" +
		"o=siptest 1 1 IN " + ipv + " " + host + "\r\n" +
		"s=siptest\r\n" +
		"c=IN " + ipv + " " + host + "\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=sendrecv\r\n"
}

func toTag(req *sip.Request) string {
	if to := req.To(); to != nil {
		if v, ok := to.Params.Get("tag"); ok {
			return v
		}
	}
	return ""
}

// newTag makes the server's To tag of a call.
func newTag(callID string, n int) string {
	var h uint32 = 2166136261
	for i := 0; i < len(callID); i++ {
		h = (h ^ uint32(callID[i])) * 16777619
	}
	return fmt.Sprintf("st%08x%d", h, n)
}

// Calls returns how many calls are up: answered and not yet ended by a BYE
// (nor by MaxCall).
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return len(s.calls)
}

// CallsProcessed returns how many calls the server has answered since it
// started.
func (s *Server) CallsProcessed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.processed
}
