package sipcheck

import (
	"context"
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
