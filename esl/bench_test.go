package esl

import (
	"context"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/probe"
)

// BenchmarkCheck is one full check (status, sofia status, show calls count)
// over a kept loopback connection to the double.
func BenchmarkCheck(b *testing.B) {
	s := startServer(b, esltest.Options{})
	p, err := New(Config{Address: s.Addr(), Profiles: []string{"internal"}, CountCalls: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		if r := p.Check(ctx); r.Status != probe.OK {
			b.Fatalf("got %s %v", r.Status, r.Err)
		}
	}
}

// BenchmarkDial is a fresh connection and login, the cost after FreeSWITCH
// restarts.
func BenchmarkDial(b *testing.B) {
	s := startServer(b, esltest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		c, err := Dial(ctx, s.Addr(), esltest.DefaultPassword)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkParseStatus(b *testing.B) {
	body := fixture(b, "status-1.10.txt")
	for b.Loop() {
		if _, err := ParseStatus(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSofiaStatus(b *testing.B) {
	body := fixture(b, "sofia-status-tls-gateway-failed.txt")
	for b.Loop() {
		if _, err := ParseSofiaStatus(body); err != nil {
			b.Fatal(err)
		}
	}
}
