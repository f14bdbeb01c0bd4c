package sipcheck

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pbxha/pbxha/probe"
)

// rawUDP answers each datagram with the datagrams reply builds: a server
// written by hand, to send what no sipgo server would.
func rawUDP(t *testing.T, reply func(req *sip.Request) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:n])
			if err != nil {
				continue
			}
			req, ok := msg.(*sip.Request)
			if !ok {
				continue
			}
			for _, d := range reply(req) {
				_, _ = pc.WriteTo(d, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func response(req *sip.Request, code int, reason string, edit func(*sip.Response)) []byte {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if edit != nil {
		edit(res)
	}
	return []byte(res.String())
}

func TestUDPReplyMatching(t *testing.T) {
	wrongBranch := func(res *sip.Response) { res.Via().Params.Add("branch", "z9hG4bK.someoneelse") }
	wrongCallID := func(res *sip.Response) {
		res.RemoveHeader("Call-ID")
		id := sip.CallIDHeader("other-call")
		res.AppendHeader(&id)
	}
	noCSeq := func(res *sip.Response) { res.RemoveHeader("CSeq") }
	cases := []struct {
		name   string
		reply  func(req *sip.Request) [][]byte
		status probe.Status
		code   int
		class  string
		fast   bool // returns well before the deadline
	}{
		{"final 200", func(r *sip.Request) [][]byte { return [][]byte{response(r, 200, "OK", nil)} },
			probe.OK, 200, "", true},
		{"100 Trying then 200", func(r *sip.Request) [][]byte {
			return [][]byte{response(r, 100, "Trying", nil), response(r, 200, "OK", nil)}
		}, probe.OK, 200, "", true},
		{"keep-alive then 200", func(r *sip.Request) [][]byte {
			return [][]byte{[]byte("\r\n\r\n"), response(r, 200, "OK", nil)}
		}, probe.OK, 200, "", true},
		{"stray branch then 503", func(r *sip.Request) [][]byte {
			return [][]byte{response(r, 200, "OK", wrongBranch), response(r, 503, "Service Unavailable", nil)}
		}, probe.Degraded, 503, probe.ClassBadResponse, true},
		{"only a stray Call-ID", func(r *sip.Request) [][]byte {
			return [][]byte{response(r, 200, "OK", wrongCallID)}
		}, probe.Failed, 0, probe.ClassBadResponse, false},
		{"a request instead of a reply", func(r *sip.Request) [][]byte { return [][]byte{[]byte(r.String())} },
			probe.Failed, 0, probe.ClassBadResponse, false},
		{"reply without CSeq", func(r *sip.Request) [][]byte { return [][]byte{response(r, 200, "OK", noCSeq)} },
			probe.Failed, 0, probe.ClassBadResponse, true},
		{"only provisional", func(r *sip.Request) [][]byte { return [][]byte{response(r, 180, "Ringing", nil)} },
			probe.Failed, 0, probe.ClassTimeout, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawUDP(t, tc.reply)
			p := newProber(t, Config{Target: "sip:" + addr})
			const timeout = 800 * time.Millisecond
			r, took := check(p, timeout)
			if r.Status != tc.status || r.Code != tc.code || r.Class != tc.class {
				t.Fatalf("got %s code=%d class=%q (%v), want %s code=%d class=%q",
					r.Status, r.Code, r.Class, r.Err, tc.status, tc.code, tc.class)
			}
			if tc.fast && took > timeout/2 {
				t.Errorf("got %s, want a verdict well before the %s deadline", took, timeout)
			}
			if !tc.fast && took < timeout {
				t.Errorf("got %s, want the check to wait for its %s deadline", took, timeout)
			}
		})
	}
}

func TestOptionsReply(t *testing.T) {
	addr := rawUDP(t, func(r *sip.Request) [][]byte {
		return [][]byte{response(r, 200, "OK\x1b[31m", func(res *sip.Response) {
			res.AppendHeader(sip.NewHeader("Server", "FreeSWITCH-mod_sofia/1.10"))
		})}
	})
	p := newProber(t, Config{Target: "sip:" + addr})
	rep, err := p.Options(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Code != 200 || rep.Server != "FreeSWITCH-mod_sofia/1.10" || rep.Transport != "udp" {
		t.Errorf("got %+v, want 200 from FreeSWITCH-mod_sofia/1.10 over udp", rep)
	}
	if strings.ContainsAny(rep.Reason, "\x1b") {
		t.Errorf("got reason %q, want control characters removed", rep.Reason)
	}
	if !strings.HasPrefix(rep.Local, "127.0.0.1:") {
		t.Errorf("got local %q, want 127.0.0.1:port", rep.Local)
	}
}

// TestUDPKeptSocketHasNoDeadline: a check that got its reply leaves its
// socket for the next one without a read deadline, whose timer would
// otherwise fire for nothing once the check's timeout has passed — a
// wake-up of the whole process per check. Read on the kept socket after
// that timeout must wait for the next datagram, not fail at once.
func TestUDPKeptSocketHasNoDeadline(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	from := make(chan net.Addr, 1)
	go func() {
		buf := make([]byte, 65535)
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if msg, err := sip.ParseMessage(buf[:n]); err == nil {
			if req, ok := msg.(*sip.Request); ok {
				_, _ = pc.WriteTo(response(req, 200, "OK", nil), addr)
			}
		}
		from <- addr
	}()
	p := newProber(t, Config{Target: "sip:" + pc.LocalAddr().String()})
	const timeout = 50 * time.Millisecond
	if r, _ := check(p, timeout); r.Status != probe.OK {
		t.Fatalf("got %s (%v), want ok", r.Status, r.Err)
	}
	p.mu.Lock()
	sock := p.udp
	p.mu.Unlock()
	if sock == nil {
		t.Fatal("got no kept socket after a check that got its reply, want one")
	}
	conn := sock.conn
	addr := <-from
	time.Sleep(2 * timeout) // past the check's deadline: a deadline left set has expired
	if _, err := pc.WriteTo([]byte("\r\n"), addr); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		n, err := conn.Read(make([]byte, 64))
		got <- result{n, err}
	}()
	select {
	case r := <-got:
		if r.err != nil || r.n != 2 {
			t.Errorf("Read on the kept socket: got %d bytes, %v; want the 2 bytes sent (no deadline left set)", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read on the kept socket: got nothing within 5s, want the datagram sent")
	}
}
