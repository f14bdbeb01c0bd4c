package probe_test

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

// fullBacklogListener returns the address of a loopback socket that listens
// with a backlog of 0 and never accepts, after filling its accept queue: the
// kernel then drops further SYNs, so a connect hangs as it does towards a
// frozen or firewalled server.
func fullBacklogListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Connect until one connect hangs: the queue is full from then on.
	for i := range 16 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the backlog, connect %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the accept queue never filled")
	return ""
}

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
		{"accept queue full", fullBacklogListener(t), 300 * time.Millisecond, probe.Failed, probe.ClassTimeout, "no answer"},
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
