package sipcheck

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

var fuzzID = txID{branch: "z9hG4bK.fuzz", callID: "fuzz-call", cseq: 7}

const fuzzReply = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK.fuzz;rport=5070\r\n" +
	"From: <sip:pbxha@127.0.0.1>;tag=a\r\nTo: <sip:127.0.0.1>;tag=b\r\n" +
	"Call-ID: fuzz-call\r\nCSeq: 7 OPTIONS\r\nServer: kamailio\r\nContent-Length: 0\r\n\r\n"

// FuzzParseReply feeds arbitrary datagrams to the UDP reply path: it must
// never panic, and a datagram it takes as our final reply must really carry
// our transaction's identity.
func FuzzParseReply(f *testing.F) {
	f.Add([]byte(fuzzReply))
	f.Add([]byte("SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK.fuzz\r\nCall-ID: fuzz-call\r\nCSeq: 7 OPTIONS\r\n\r\n"))
	f.Add([]byte("garbage\x00\xff"))
	f.Add([]byte("\r\n\r\n"))
	par := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		res, kind, err := parseReply(par, data, fuzzID)
		switch kind {
		case replyFinal, replyProvisional:
			if err != nil || res == nil {
				t.Fatalf("got kind %d with res=%v err=%v, want a response", kind, res, err)
			}
			if res.CallID() == nil || string(*res.CallID()) != fuzzID.callID || res.CSeq().SeqNo != fuzzID.cseq {
				t.Fatalf("matched a reply of another transaction: %q", data)
			}
			if b, _ := res.Via().Params.Get("branch"); b != fuzzID.branch {
				t.Fatalf("matched branch %q, want %q", b, fuzzID.branch)
			}
			if (kind == replyFinal) != (res.StatusCode >= 200) {
				t.Fatalf("got kind %d for code %d", kind, res.StatusCode)
			}
			rep := newReply(res, "udp", 0, "")
			if bytes.ContainsAny([]byte(rep.Reason+rep.Server), "\r\n") {
				t.Fatalf("got reason %q server %q, want one line each", rep.Reason, rep.Server)
			}
		case replyGarbage, replyStray:
			if err == nil {
				t.Fatalf("got kind %d without a reason", kind)
			}
		}
	})
}

// FuzzStreamReplies feeds arbitrary bytes, cut into two reads, through the
// stream parser and matcher as optionsStream does: it must never panic.
func FuzzStreamReplies(f *testing.F) {
	f.Add([]byte(fuzzReply+fuzzReply), 10)
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n"), 3)
	f.Add([]byte(strings.Replace(fuzzReply, "200 OK", "100 Trying", 1)+fuzzReply), len(fuzzReply))
	f.Add([]byte("\r\n\r\nSIP/2.0 503 Busy\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK.fuzz\r\nCall-ID: fuzz-call\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"), 0)
	par := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		stream := par.NewSIPStream()
		defer stream.Close()
		for _, chunk := range [][]byte{data[:cut], data[cut:]} {
			_, _ = stream.Write(chunk)
			for i := 0; i < 100 && stream.Buffer().Len() > 0; i++ {
				msg, _, err := stream.ParseNext()
				if errors.Is(err, io.ErrUnexpectedEOF) {
					break
				}
				if err != nil {
					return // optionsStream fails the check here
				}
				if res, kind, _ := matchReply(msg, fuzzID); kind == replyFinal && res.StatusCode < 200 {
					t.Fatalf("final reply with code %d", res.StatusCode)
				}
			}
		}
	})
}

// FuzzParseCodes: ParseCodes never panics, and String is canonical: it
// parses back to the same set and is a fixed point.
func FuzzParseCodes(f *testing.F) {
	for _, s := range []string{"200", "2xx,401,403,404", "none", "500-599", "1xx", "200,,", "699,200-202"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCodes(s)
		if err != nil {
			return
		}
		again, err := ParseCodes(set.String())
		if err != nil {
			t.Fatalf("String %q of %q does not parse: %v", set.String(), s, err)
		}
		if again != set {
			t.Fatalf("String %q of %q parses to another set", set.String(), s)
		}
		if again.String() != set.String() {
			t.Fatalf("String not canonical: %q vs %q", again.String(), set.String())
		}
	})
}

// FuzzParseTarget: ParseTarget never panics and every accepted target has a
// transport, a host and a port in range.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"sip:127.0.0.1:5060;transport=udp", "sips:pbx.example.net", "sip:[::1]:5062;transport=tcp", "sip:a@b;x=y", "sip:[", "sip:h:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Host == "" || tg.Port < 1 || tg.Port > 65535 {
			t.Fatalf("accepted %q with host %q port %d", s, tg.Host, tg.Port)
		}
		switch tg.Transport {
		case TransportUDP, TransportTCP, TransportTLS:
		default:
			t.Fatalf("accepted %q with transport %q", s, tg.Transport)
		}
	})
}
