package probe_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)

	tests := []struct {
		name       string
		addr       string
		deadline   time.Duration
		wantStatus probe.Status
		wantClass  string
		wantDetail string
	}{
		{"listening", ln.Addr().String(), 10 * time.Second, probe.OK, "", "connected to " + ln.Addr().String()},
		{"closed port", testenv.FreeAddr(t), 10 * time.Second, probe.Failed, probe.ClassRefused, "connection refused"},
		{"accept queue full", testenv.SilentTCP(t), 300 * time.Millisecond, probe.Failed, probe.ClassTimeout, "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := probe.NewTCP(probe.TCPConfig{Address: tt.addr})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			r := p.Check(ctx)
			if r.Status != tt.wantStatus || r.Class != tt.wantClass || r.Detail != tt.wantDetail {
				t.Errorf("got %v %q %q (%v), want %v %q %q", r.Status, r.Class, r.Detail, r.Err, tt.wantStatus, tt.wantClass, tt.wantDetail)
			}
			if r.Latency <= 0 || r.Latency > tt.deadline+5*time.Second {
				t.Errorf("latency: got %s, want between 0 and about %s", r.Latency, tt.deadline)
			}
			if r.Start.IsZero() {
				t.Errorf("start: got zero, want the check time")
			}
			if tt.wantStatus != probe.OK && (r.Err == nil || !strings.HasPrefix(r.Err.Error(), "tcp: connect "+tt.addr+": ")) {
				t.Errorf("err: got %v, want it prefixed %q", r.Err, "tcp: connect "+tt.addr+": ")
			}
		})
	}
}

func TestNewTCP(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:5060", true},
		{"[::1]:5060", true},
		{"pbx.example.net:5060", true},
		{"127.0.0.1", false},
		{":5060", false},
		{"127.0.0.1:0", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			_, err := probe.NewTCP(probe.TCPConfig{Address: tt.addr})
			if (err == nil) != tt.ok {
				t.Errorf("got error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func BenchmarkTCPCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	testenv.ServeAccepts(b, ln)
	p, err := probe.NewTCP(probe.TCPConfig{Address: ln.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := p.Check(ctx)
		cancel()
		if r.Status != probe.OK {
			b.Fatalf("got %v (%v), want ok", r.Status, r.Err)
		}
	}
}
