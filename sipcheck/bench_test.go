package sipcheck

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// benchCheck measures one Check against the in-process double (client and
// server costs together).
func benchCheck(b *testing.B, transport string) {
	srv := siptest.Start(b, siptest.Options{Transports: []string{"udp", "tcp"}})
	p := newProber(b, Config{Target: srv.URI(transport)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if r := p.Check(ctx); r.Status != probe.OK { // warm-up, dials TCP
		b.Fatalf("got %s (%v), want ok", r.Status, r.Err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		r := p.Check(cctx)
		ccancel()
		if r.Status != probe.OK {
			b.Fatalf("got %s (%v), want ok", r.Status, r.Err)
		}
	}
}

func BenchmarkCheckUDP(b *testing.B) { benchCheck(b, "udp") }
func BenchmarkCheckTCP(b *testing.B) { benchCheck(b, "tcp") }

// BenchmarkSipsakFork forks sipsak once per op, as a keepalived-style check
// script would, against the same double.
func BenchmarkSipsakFork(b *testing.B) {
	sipsak := testenv.LookPath(b, "sipsak")
	srv := siptest.Start(b, siptest.Options{Transports: []string{"udp"}})
	uri := "sip:" + srv.Addr()
	b.ReportAllocs()
	for b.Loop() {
		if out, err := exec.Command(sipsak, "-s", uri).CombinedOutput(); err != nil {
			b.Fatalf("sipsak: %v\n%s", err, out)
		}
	}
}

// BenchmarkOptionsUDP measures one Options over UDP against the in-process
// sipgo double: the prober's costs and the double's together (allocations
// are counted process-wide).
func BenchmarkOptionsUDP(b *testing.B) {
	srv := siptest.Start(b, siptest.Options{Transports: []string{"udp"}})
	benchOptions(b, srv.URI("udp"))
}

// BenchmarkOptionsUDPEcho is BenchmarkOptionsUDP against echoUDP, a
// responder that allocates next to nothing per request (the source address
// ReadFrom returns): what remains is the prober's own cost.
func BenchmarkOptionsUDPEcho(b *testing.B) {
	benchOptions(b, "sip:"+echoUDP(b))
}

func benchOptions(b *testing.B, target string) {
	p := newProber(b, Config{Target: target})
	ctx := b.Context()
	if _, err := p.Options(ctx); err != nil { // warm-up: socket, buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := p.Options(ctx)
		if err != nil || rep.Code != 200 {
			b.Fatalf("got %d (%v), want 200", rep.Code, err)
		}
	}
}

var echoed = [...]string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"}

// echoUDP answers each OPTIONS with a 200 that copies the request's Via,
// From, To, Call-ID and CSeq lines byte for byte, into reused buffers.
func echoUDP(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	b.Cleanup(func() { _ = pc.Close(); <-done })
	go func() {
		defer close(done)
		in, out := make([]byte, 65535), make([]byte, 0, 65535)
		for {
			n, from, err := pc.ReadFrom(in)
			if err != nil {
				return
			}
			out = append(out[:0], "SIP/2.0 200 OK\r\n"...)
			for rest := in[:n]; len(rest) > 0; {
				line, after, _ := bytes.Cut(rest, []byte("\r\n"))
				for _, h := range echoed {
					if len(line) >= len(h) && string(line[:len(h)]) == h {
						out = append(append(out, line...), "\r\n"...)
					}
				}
				rest = after
			}
			out = append(out, "Server: echo\r\nContent-Length: 0\r\n\r\n"...)
			_, _ = pc.WriteTo(out, from)
		}
	}()
	return pc.LocalAddr().String()
}
