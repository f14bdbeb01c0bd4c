package siptest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// uac is a bare SIP caller on one UDP socket, so that the test sees every
// byte the server sends.
type uac struct {
	t    *testing.T
	conn *net.UDPConn
	seq  int
}

func newUAC(t *testing.T, to string) *uac {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &uac{t: t, conn: conn}
}

// request sends one request of the call callID (toTag "" outside a
// dialog) and returns the replies up to the final one, or up to wait.
func (u *uac) request(method, callID, toTag, body string, wait time.Duration) []string {
	u.t.Helper()
	u.seq++
	to := "<sip:1000@example.invalid>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	ctype := ""
	if body != "" {
		ctype = "Content-Type: application/sdp\r\n"
	}
	local := u.conn.LocalAddr().String()
	msg := fmt.Sprintf("%s sip:1000@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:caller@%s>;tag=caller-%s\r\n"+
		"To: %s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"Contact: <sip:caller@%s>\r\n"+
		"%sContent-Length: %d\r\n\r\n%s",
		method, u.conn.RemoteAddr(), local, callID, u.seq, local, callID, to, callID, u.seq, method, local, ctype, len(body), body)
	if _, err := u.conn.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
	if method == "ACK" {
		return nil
	}
	var got []string
	buf := make([]byte, 65535)
	deadline := time.Now().Add(wait)
	for {
		u.conn.SetReadDeadline(deadline)
		n, err := u.conn.Read(buf)
		if err != nil {
			return got
		}
		r := string(buf[:n])
		got = append(got, r)
		if !strings.HasPrefix(r, "SIP/2.0 1") {
			return got
		}
	}
}

func statusLine(r string) string { l, _, _ := strings.Cut(r, "\r\n"); return l }

func header(r, name string) string {
	for _, l := range strings.Split(r, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func tagOf(to string) string {
	_, t, _ := strings.Cut(to, ";tag=")
	t, _, _ = strings.Cut(t, ";")
	return t
}

func statuses(rs []string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, statusLine(r))
	}
	return out
}

const offer = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"

// TestCallLifecycle: an INVITE is answered 100, 180, 200 with SDP and the
// configured Contact, under one To tag; the call counts until its BYE; a
// re-INVITE and an UPDATE in the dialog are answered 200; a BYE for a
// dialog the server does not know gets 481.
func TestCallLifecycle(t *testing.T) {
	s := Start(t, Options{Transports: []string{"udp"}, Contact: "127.0.0.1:5999"})
	u := newUAC(t, s.Addr())

	rs := u.request("INVITE", "call-1", "", offer, 2*time.Second)
	if got, want := strings.Join(statuses(rs), " | "), "SIP/2.0 100 Trying | SIP/2.0 180 Ringing | SIP/2.0 200 OK"; got != want {
		t.Fatalf("INVITE replies: got %q, want %q", got, want)
	}
	ok := rs[2]
	tag := tagOf(header(ok, "To"))
	if tag == "" || tagOf(header(rs[1], "To")) != tag {
		t.Errorf("To tags: 180 %q, 200 %q; want one tag on both", header(rs[1], "To"), header(ok, "To"))
	}
	if got, want := header(ok, "Contact"), "<sip:siptest@127.0.0.1:5999>"; got != want {
		t.Errorf("Contact: got %q, want %q", got, want)
	}
	if got := header(ok, "Content-Type"); got != "application/sdp" || !strings.Contains(ok, "m=audio ") {
		t.Errorf("200 OK body: got type %q and\n%s\nwant an SDP answer", got, ok)
	}
	if got := s.Calls(); got != 1 {
		t.Errorf("Calls after the 200: got %d, want 1", got)
	}
	u.request("ACK", "call-1", tag, "", 0)

	for _, method := range []string{"INVITE", "UPDATE"} {
		rs := u.request(method, "call-1", tag, offer, 2*time.Second)
		if len(rs) == 0 || statusLine(rs[len(rs)-1]) != "SIP/2.0 200 OK" || !strings.Contains(rs[len(rs)-1], "m=audio ") {
			t.Errorf("%s in the dialog: got %q, want 200 OK with SDP", method, statuses(rs))
		}
	}
	if rs := u.request("UPDATE", "call-1", "other-tag", "", 2*time.Second); len(rs) != 1 || !strings.HasPrefix(rs[0], "SIP/2.0 481") {
		t.Errorf("UPDATE with a foreign To tag: got %q, want 481", statuses(rs))
	}
	if rs := u.request("BYE", "call-1", tag, "", 2*time.Second); len(rs) != 1 || statusLine(rs[0]) != "SIP/2.0 200 OK" {
		t.Errorf("BYE: got %q, want 200 OK", statuses(rs))
	}
	if got := s.Calls(); got != 0 {
		t.Errorf("Calls after the BYE: got %d, want 0", got)
	}
	if rs := u.request("BYE", "call-1", tag, "", 2*time.Second); len(rs) != 1 || !strings.HasPrefix(rs[0], "SIP/2.0 481") {
		t.Errorf("second BYE: got %q, want 481", statuses(rs))
	}
	if got := s.CallsProcessed(); got != 1 {
		t.Errorf("CallsProcessed: got %d, want 1", got)
	}
}

// TestCallBehaviours: the behaviour set for OPTIONS applies to INVITE.
func TestCallBehaviours(t *testing.T) {
	tests := []struct {
		name  string
		set   func(s *Server)
		want  string // replies, " | "-joined
		calls int
	}{
		{name: "rejecting", set: func(s *Server) { s.Answer(503, "Service Unavailable") }, want: "SIP/2.0 100 Trying | SIP/2.0 503 Service Unavailable"},
		{name: "silent", set: func(s *Server) { s.Silent() }, want: ""},
		{name: "slow", set: func(s *Server) { s.Slow(50 * time.Millisecond) }, want: "SIP/2.0 100 Trying | SIP/2.0 180 Ringing | SIP/2.0 200 OK", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, Options{Transports: []string{"udp"}})
			tt.set(s)
			rs := newUAC(t, s.Addr()).request("INVITE", "call-"+tt.name, "", offer, 500*time.Millisecond)
			if got := strings.Join(statuses(rs), " | "); got != tt.want {
				t.Errorf("replies: got %q, want %q", got, tt.want)
			}
			if got := s.Calls(); got != tt.calls {
				t.Errorf("Calls: got %d, want %d", got, tt.calls)
			}
		})
	}
}

// TestCallMaxCallAndAlsoUDP: a call answered on an AlsoUDP address is the
// same call on the main one (its BYE may come there), and MaxCall ends a
// call whose BYE never came.
func TestCallMaxCallAndAlsoUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	also := pc.LocalAddr().String()
	pc.Close()
	s := Start(t, Options{Transports: []string{"udp"}, AlsoUDP: []string{also}, MaxCall: 300 * time.Millisecond})
	rs := newUAC(t, also).request("INVITE", "call-a", "", offer, 2*time.Second)
	if len(rs) == 0 || statusLine(rs[len(rs)-1]) != "SIP/2.0 200 OK" {
		t.Fatalf("INVITE on the AlsoUDP address: got %q, want 200 OK", statuses(rs))
	}
	tag := tagOf(header(rs[len(rs)-1], "To"))
	main := newUAC(t, s.Addr())
	if rs := main.request("BYE", "call-a", tag, "", 2*time.Second); len(rs) != 1 || statusLine(rs[0]) != "SIP/2.0 200 OK" {
		t.Errorf("BYE on the main address: got %q, want 200 OK", statuses(rs))
	}

	main.request("INVITE", "call-b", "", offer, 2*time.Second)
	if got := s.Calls(); got != 1 {
		t.Fatalf("Calls: got %d, want 1", got)
	}
	testenv.WaitFor(t, 5*time.Second, "the call to end after MaxCall 300ms", func() bool { return s.Calls() == 0 })
}

// TestRepliesFromTheAskedAddress: one client socket asking both addresses
// gets each answer from the address it asked, as from a PBX whose reply
// must not depend on an address (a VIP) that may leave.
func TestRepliesFromTheAskedAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	also := pc.LocalAddr().String()
	pc.Close()
	s := Start(t, Options{Transports: []string{"udp"}, AlsoUDP: []string{also}})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, to := range []string{also, s.Addr(), also, s.Addr()} {
		raddr, _ := net.ResolveUDPAddr("udp", to)
		local := conn.LocalAddr().String()
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-o%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:c@%s>;tag=o%d\r\nTo: <sip:%s>\r\nCall-ID: o%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", to, local, i, local, i, to, i)
		if _, err := conn.WriteToUDP([]byte(msg), raddr); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("OPTIONS %d to %s: %v", i, to, err)
		}
		if from.String() != to || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			t.Errorf("OPTIONS %d to %s: got %q from %s, want 200 from %s", i, to, statusLine(string(buf[:n])), from, to)
		}
	}
}
