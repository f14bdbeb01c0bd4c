package sipcheck

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// TestUDPRequestTemplate: for the same IDs, a check's request from the
// template is byte for byte what sipgo builds (newRequest), check after
// check, with any config's host, user and user agent.
func TestUDPRequestTemplate(t *testing.T) {
	v4 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	v6 := &net.UDPAddr{IP: net.ParseIP("2001:db8::5"), Port: 5062}
	cases := []struct {
		name  string
		cfg   Config
		local *net.UDPAddr
	}{
		{"defaults", Config{Target: "sip:127.0.0.1:5060"}, v4},
		{"ipv6", Config{Target: "sip:[2001:db8::1]"}, v6},
		{"local host", Config{Target: "sip:pbx.example.net:5080", LocalHost: "node-a.example.net"}, v4},
		{"user and agent", Config{Target: "sip:100@127.0.0.1", FromUser: "probe.1",
			// Looks like the placeholders, and must not confuse the template.
			UserAgent: "x;branch=z9hG4bK.xxxxxxxxxxxxxxxxxxxxxxxx;tag=xxxxxxxxxxxxxxxx Call-ID: x CSeq: 10000 "}, v4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, ref := newProber(t, tc.cfg), newProber(t, tc.cfg)
			var key [32]byte
			key[0] = 7
			tmpl.ids, ref.ids = &ids{g: rand.NewChaCha8(key)}, &ids{g: rand.NewChaCha8(key)}
			r, err := tmpl.newUDPRequest(tc.local)
			if err != nil {
				t.Fatal(err)
			}
			if r.local != tc.local.String() {
				t.Errorf("got local %q, want %q", r.local, tc.local)
			}
			host := orDefault(tc.cfg.LocalHost, tc.local.IP.String())
			for i := range 200 {
				got := r.next(tmpl.ids)
				req, want := ref.newRequest(&via{transport: "UDP", host: host, port: tc.local.Port, rport: true}, host)
				if got != want {
					t.Fatalf("check %d: got IDs %+v, want %+v", i, got, want)
				}
				if string(r.msg) != req.String() {
					t.Fatalf("check %d: got request\n%q\nwant sipgo's\n%q", i, r.msg, req.String())
				}
			}
		})
	}
}

// TestUDPTemplatePerSocket: a kept socket sends each check with fresh IDs
// from its template; after an error the next check's new socket gets a new
// template, whose Via carries the new socket's address.
func TestUDPTemplatePerSocket(t *testing.T) {
	srv := siptest.Start(t, siptest.Options{Transports: []string{"udp"}})
	p := newProber(t, Config{Target: srv.URI("udp")})
	kept := func() *udpSocket {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.udp
	}
	// last checks the request the double saw last: its Via names the
	// socket it came from.
	last := func() siptest.Request {
		t.Helper()
		got := srv.Received()
		req := got[len(got)-1]
		sentBy, _, _ := strings.Cut(strings.TrimPrefix(req.Via, "SIP/2.0/UDP "), ";")
		if sentBy != req.Source {
			t.Errorf("got Via %q from %s, want the socket's address in it", req.Via, req.Source)
		}
		return req
	}
	ok := func() {
		t.Helper()
		if r, _ := check(p, 2*time.Second); r.Status != probe.OK {
			t.Fatalf("got %s (%v), want ok", r.Status, r.Err)
		}
	}
	ok()
	first, a := kept(), last()
	ok()
	if b := last(); kept() != first || b.Source != a.Source || b.CallID == a.CallID {
		t.Errorf("second check: got Call-ID %q from %s, want a fresh one from the kept socket %s", b.CallID, b.Source, a.Source)
	}
	srv.Garbage([]byte("garbage"))
	if r, _ := check(p, 2*time.Second); r.Status != probe.Failed || kept() != nil {
		t.Fatalf("got %s and kept socket %v, want failed and the socket closed", r.Status, kept())
	}
	srv.Answer(200, "OK")
	ok()
	if s := kept(); s == nil || s == first || s.req == first.req {
		t.Fatal("got the old socket or template after an error, want new ones")
	}
	last()
}

// fuzzMsg fills a reply's IDs with fuzzID's and the ones fuzzID does not
// know with fixed values.
var fuzzMsg = strings.NewReplacer("BRANCH", fuzzID.branch, "CALLID", fuzzID.callID, "CSEQ", "7").Replace

// Replies as servers send them, with fuzzID's transaction. The Kamailio and
// double replies are captured from the wire; the Asterisk (PJSIP) and
// FreeSWITCH (Sofia) ones follow their documented output.
var wireReplies = []struct {
	name, msg        string
	kind             replyKind
	code             int
	reason, server   string
	accept, fallback bool // parseWire takes it; sipgo's path judges it
}{
	{name: "kamailio", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:51643;branch=BRANCH;rport=51643;received=127.0.0.1\r\n" +
		"From: <sip:pbxha@127.0.0.1>;tag=2275964d9fbf3b77\r\nTo: <sip:127.0.0.1:40500>;tag=a5b42c164898d28f216bca25e8b39dd4.916e5710\r\n" +
		"Call-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\nContent-Length: 0\r\n\r\n",
		kind: replyFinal, code: 200, reason: "OK", server: "kamailio (5.6.3 (x86_64/linux))", accept: true},
	{name: "double", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:33970;branch=BRANCH;rport=33970;received=127.0.0.1\r\n" +
		"From: <sip:pbxha@127.0.0.1>;tag=b9f99386e70de290\r\nTo: <sip:127.0.0.1:46859>;tag=8c10862f-0873-4289-ba54-c151a03ee2d7\r\n" +
		"Call-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nContent-Length: 0\r\nServer: pbxha-siptest\r\n\r\n",
		kind: replyFinal, code: 200, reason: "OK", server: "pbxha-siptest", accept: true},
	{name: "double trying", msg: "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 127.0.0.1:33970;branch=BRANCH;rport=33970;received=127.0.0.1\r\n" +
		"From: <sip:pbxha@127.0.0.1>;tag=b9f99386e70de290\r\nTo: <sip:127.0.0.1:46859>\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nContent-Length: 0\r\n\r\n",
		kind: replyProvisional, code: 100, reason: "Trying", accept: true},
	{name: "asterisk", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;rport=5060;received=10.0.0.5;branch=BRANCH\r\n" +
		"Call-ID: CALLID\r\nFrom: <sip:pbxha@10.0.0.5>;tag=b9f99386e70de290\r\nTo: <sip:10.0.0.1>;tag=z9hG4bK.3b9d2a1f\r\nCSeq: CSEQ OPTIONS\r\n" +
		"Accept: application/sdp, application/dialog-info+xml, application/simple-message-summary, message/sipfrag;version=2.0\r\n" +
		"Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER\r\n" +
		"Supported: 100rel, timer, replaces, norefersub\r\nAccept-Encoding: identity\r\nAccept-Language: en\r\n" +
		"Server: Asterisk PBX 20.5.0\r\nContent-Length:  0\r\n\r\n",
		kind: replyFinal, code: 200, reason: "OK", server: "Asterisk PBX 20.5.0", accept: true},
	{name: "freeswitch", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=BRANCH;rport=5060\r\n" +
		"From: <sip:pbxha@10.0.0.5>;tag=b9f99386e70de290\r\nTo: <sip:10.0.0.1:5060>;tag=Q3X8tjZ8H5mXg\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n" +
		"Contact: <sip:10.0.0.1:5060>\r\nUser-Agent: FreeSWITCH-mod_sofia/1.10.11-release~64bit\r\nAccept: application/sdp\r\n" +
		"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY, PUBLISH, SUBSCRIBE\r\n" +
		"Supported: timer, path, replaces\r\nAllow-Events: talk, hold, conference, presence, dialog, line-seize, call-info, sla, refer\r\n" +
		"Content-Length: 0\r\n\r\n",
		kind: replyFinal, code: 200, reason: "OK", server: "FreeSWITCH-mod_sofia/1.10.11-release~64bit", accept: true},
	{name: "compact forms", msg: "SIP/2.0 503 Service Unavailable\r\nv: SIP/2.0/UDP 10.0.0.5;branch=BRANCH\r\nf: <sip:pbxha@10.0.0.5>;tag=1\r\n" +
		"t: \"PBX A\" <sip:10.0.0.1>;tag=2\r\ni: CALLID\r\ncseq: CSEQ OPTIONS\r\nm: PBX <sip:pbx@10.0.0.1;transport=udp>;expires=60\r\n" +
		"SERVER: pbx\r\nuser-agent: not this one\r\nl: 0\r\n\r\n",
		kind: replyFinal, code: 503, reason: "Service Unavailable", server: "pbx", accept: true},
	{name: "ipv6", msg: "SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP [2001:db8::5]:5062;branch=BRANCH;received=2001:db8::5;rport=5062\r\n" +
		"From: <sip:pbxha@[2001:db8::5]>;tag=1\r\nTo: <sip:[2001:db8::1]:5060>;tag=2\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n",
		kind: replyFinal, code: 404, reason: "Not Found", accept: true},
	{name: "two vias in a line", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=BRANCH, SIP/2.0/TCP 10.0.0.9:5070;branch=z9hG4bK.x\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK.y\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n",
		kind: replyFinal, code: 200, reason: "OK", accept: true},
	{name: "body", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
		kind: replyFinal, code: 200, reason: "OK", accept: true},
	{name: "control characters in the reason", msg: "SIP/2.0 200 OK\x1b[31m  \r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n",
		fallback: true}, // sipgo's path takes it, and oneLine strips them
	{name: "stray branch", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK.earlier\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n",
		kind: replyStray, accept: true},
	{name: "stray call-id", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: other\r\nCSeq: CSEQ OPTIONS\r\n\r\n",
		kind: replyStray, accept: true},
	{name: "stray cseq", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: 8 OPTIONS\r\n\r\n",
		kind: replyStray, accept: true},
	{name: "stray method", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ options\r\n\r\n",
		kind: replyStray, accept: true},

	// Declined: sipgo's path judges these.
	{name: "folded header", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nServer: a\r\n b\r\n\r\n", fallback: true},
	{name: "tab", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID:\tCALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "two call-ids", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\ni: other\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "two cseqs", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nCSeq: 8 OPTIONS\r\n\r\n", fallback: true},
	{name: "no cseq", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\n\r\n", fallback: true},
	{name: "no via", msg: "SIP/2.0 200 OK\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "no branch", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;rport\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "two branches", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=x;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "bad second via", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH, garbage\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "quoted via param", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH;x=\"a b\"\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "lf only", msg: "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=BRANCH\nCall-ID: CALLID\nCSeq: CSEQ OPTIONS\n\n", fallback: true},
	{name: "no blank line", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n", fallback: true},
	{name: "a request", msg: "OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "reason like a uri", msg: "SIP/2.0 200 sip:x\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "utf-8 server", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nServer: Sérveur\r\n\r\n", fallback: true},
	{name: "body shorter than content-length", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nContent-Length: 10\r\n\r\nv=0\r\n", fallback: true},
	{name: "record-route", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nRecord-Route: <sip:p;lr>\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "from without brackets", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nFrom: sip:a@h;tag=1\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "cseq too large", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: 2147483648 OPTIONS\r\n\r\n", fallback: true},
	{name: "code 700", msg: "SIP/2.0 700 Odd\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\n\r\n", fallback: true},
	{name: "too long", msg: "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=BRANCH\r\nCall-ID: CALLID\r\nCSeq: CSEQ OPTIONS\r\nX: " +
		strings.Repeat("a", maxWireReply) + "\r\n\r\n", fallback: true},
	{name: "garbage", msg: "garbage\x00\xff", fallback: true},
}

// TestParseWire: parseWire takes the replies servers send, sorts them as
// sipgo's path does, and leaves anything unusual to sipgo's path.
func TestParseWire(t *testing.T) {
	par := sip.NewParser()
	for _, tc := range wireReplies {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(fuzzMsg(tc.msg))
			w, ok := parseWire(data)
			if ok != tc.accept {
				t.Fatalf("parseWire: got ok=%t, want %t", ok, tc.accept)
			}
			head, kind, err := readReply(par, data, fuzzID)
			if tc.fallback {
				return // sipgo's verdict; FuzzFastReply compares where both judge
			}
			if kind != tc.kind {
				t.Fatalf("got kind %d (%v), want %d", kind, err, tc.kind)
			}
			if kind == replyStray {
				if err == nil || !strings.Contains(err.Error(), "not ours") {
					t.Errorf("got error %v, want it to say the reply is not ours", err)
				}
				return
			}
			if err != nil || head != w.replyHead {
				t.Fatalf("readReply: got %+v, %v; want parseWire's %+v", head, err, w.replyHead)
			}
			rep := head.reply(TransportUDP, 0, "")
			if rep.Code != tc.code || rep.Reason != tc.reason || rep.Server != tc.server {
				t.Errorf("got %d %q from %q, want %d %q from %q", rep.Code, rep.Reason, rep.Server, tc.code, tc.reason, tc.server)
			}
		})
	}
}

// TestWireWithRealServers: the replies of Kamailio and of the double to a
// check's request are read by parseWire, not by sipgo: a check at rest runs
// no sipgo code.
func TestWireWithRealServers(t *testing.T) {
	servers := map[string]string{"double": siptest.Start(t, siptest.Options{Transports: []string{"udp"}}).Addr()}
	servers["kamailio"] = siptest.StartKamailio(t, kamailioReady).Addr
	for name, addr := range servers {
		t.Run(name, func(t *testing.T) {
			p := newProber(t, Config{Target: "sip:" + addr})
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, err := p.newUDPRequest(c.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			id := r.next(p.ids)
			if _, err := c.Write(r.msg); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 65535)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := parseWire(buf[:n])
			if !ok {
				t.Fatalf("parseWire declined %q", buf[:n])
			}
			if kind, err := id.match(w.code, w.branch, w.callID, w.cseq, w.method); kind != replyFinal || w.code != 200 {
				t.Fatalf("got kind %d code %d (%v), want a final 200", kind, w.code, err)
			}
			// And the check itself, on the template path.
			if r, _ := check(p, 2*time.Second); r.Status != probe.OK || r.Detail != "200 OK" {
				t.Fatalf("got %s %q (%v), want ok 200 OK", r.Status, r.Detail, r.Err)
			}
		})
	}
}

// FuzzFastReply compares parseWire with sipgo's path: wherever parseWire
// accepts a datagram, both must sort it alike against the transaction and
// read the same code, reason and server.
func FuzzFastReply(f *testing.F) {
	for _, tc := range wireReplies {
		f.Add([]byte(fuzzMsg(tc.msg)))
	}
	f.Add([]byte(fuzzReply))
	for _, seed := range trickyReplies() {
		f.Add(seed)
	}
	for _, seed := range corpus(f, "FuzzParseReply") {
		f.Add(seed)
	}
	par := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		w, ok := parseWire(data)
		if !ok {
			return
		}
		kind, err := fuzzID.match(w.code, w.branch, w.callID, w.cseq, w.method)
		res, want, wantErr := parseReply(par, data, fuzzID)
		if kind != want || errText(err) != errText(wantErr) {
			t.Fatalf("parseWire: kind %d (%v); sipgo: kind %d (%v)\n%q", kind, err, want, wantErr, data)
		}
		if res == nil {
			return
		}
		h := headOf(res)
		got, exp := w.reply(TransportUDP, 0, ""), h.reply(TransportUDP, 0, "")
		if got != exp {
			t.Fatalf("parseWire: %d %q from %q; sipgo: %d %q from %q\n%q", got.Code, got.Reason, got.Server, exp.Code, exp.Reason, exp.Server, data)
		}
		if w.replyHead != h {
			t.Fatalf("parseWire read %+v, sipgo %+v\n%q", w.replyHead, h, data)
		}
	})
}

// trickyReplies are the Kamailio reply with one header line or the status
// line swapped for an odd one (or added): shapes at the edge of parseWire's
// grammar and of what sipgo parses, which byte-wise mutation seldom builds.
func trickyReplies() [][]byte {
	base := strings.Split(fuzzMsg(wireReplies[0].msg), "\r\n")
	lines := []string{
		"SIP/2.0 200 ", "SIP/2.0 200", "sip/2.0 200 OK", "SIP/2.0 2000 OK", "SIP/2.0 180 Ringing", "SIP/2.0  200 OK", "SIP/2.0 200 SIP",
		"Via: SIP/2.0/UDP h;branch=BRANCH;received=[::1]", "Via: SIP/2.0/UDP [::1];branch=BRANCH", "Via: SIP/2.0/UDP [::1]:5060;branch=BRANCH",
		"Via: SIP/2.0/UDP h:5060;branch=BRANCH,SIP/2.0/UDP [::2];branch=x", "Via: SIP/2.0/UDP h;branch=BRANCH;rport;x",
		"Via: SIP / 2.0 / UDP h;branch=BRANCH", "Via: SIP/2.0/UDP h:;branch=BRANCH", "Via: SIP/2.0/UDP h:abc;branch=BRANCH",
		"Via: SIP/2.0/UDP h;Branch=BRANCH", "Via: SIP/2.0/UDP [::1]x;branch=BRANCH", "Via: SIP/2.0/UDP h;branch=BRANCH,",
		"From: \"A, B\" <sip:a@h>;tag=1", "From: A B <sip:a@h>;tag=1", "From: <sip:a@h;user=phone>;tag=1",
		"From: <sips:a@[::1]:5061;transport=tls>;tag=1", "From: <tel:+123>;tag=1", "From: <sip:*>", "From: <sip:a@h>;tag=1;",
		"To: <sip:[::1]:>", "To: <sip:h>;tag", "To: <sip:h>;;tag=1", "To: <sip:h>", "To: \"\"<sip:h>;tag=1",
		"Contact: <sip:a@h>, <sip:b@h>", "Contact: *", "Contact: <sip:[1234567890abcdef:1234567890abcdef:1234567890abcdef]>",
		"CSeq: 007 OPTIONS", "CSeq: 7  OPTIONS", "CSeq: 4294967296 OPTIONS", "CSeq: 7 OPTIONS ", "CSeq: 7",
		"Call-ID: fuzz-call ", "Call-ID: fuzz call", "Call-ID:", "Content-Length: 0000", "Content-Length: 1",
		"Max-Forwards: 70", "Max-Forwards: -1", "Content-Type: ", "Content-Type: application/sdp", "Server:", "Server: a, b",
		"User-Agent: ua", "Route: <sip:x;lr>", "X-Odd:: value", "Timestamp: 1", "k: timer", "r: <sip:x>",
	}
	var out [][]byte
	for _, l := range lines {
		l = fuzzMsg(l)
		name, _, _ := strings.Cut(l, ":")
		msg := slices.Clone(base)
		i := slices.IndexFunc(msg, func(h string) bool {
			n, _, _ := strings.Cut(h, ":")
			return strings.EqualFold(n, name) || strings.HasPrefix(l, "SIP") && strings.HasPrefix(h, "SIP/")
		})
		if i >= 0 {
			msg[i] = l
		} else {
			msg = slices.Insert(msg, 1, l)
		}
		out = append(out, []byte(strings.Join(msg, "\r\n")))
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// corpus reads the []byte inputs of another fuzz target's corpus in
// testdata/fuzz.
func corpus(tb testing.TB, target string) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("corpus %s: %v (%d files)", target, err, len(files))
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, corpusFile(tb, b)...)
	}
	return out
}

// corpusFile decodes the []byte values of one corpus file.
func corpusFile(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	for line := range bytes.Lines(b) {
		lit, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("[]byte("))
		if !ok {
			continue
		}
		s, err := strconv.Unquote(string(bytes.TrimSuffix(lit, []byte(")"))))
		if err != nil {
			tb.Fatalf("corpus line %q: %v", line, err)
		}
		out = append(out, []byte(s))
	}
	return out
}
