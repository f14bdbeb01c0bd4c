package httpguard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// serve starts Serve's server on loopback with lim and returns its address
// and its limiter; it stops when the test ends.
func serve(t *testing.T, lim Limits) (string, *limiter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv, g := newServer(ln, h, lim, log.New(io.Discard, "", 0))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(g) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String(), g
}

// keepAlive opens a connection, runs one request on it and leaves it open
// and idle, as a keep-alive client does.
func keepAlive(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("request on keep-alive connection: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Close {
		t.Fatalf("got status %d close=%v, want 200 on a connection kept alive", res.StatusCode, res.Close)
	}
	return c
}

// TestIdleConnectionsMakeRoom: past the cap, each new client is served
// and the oldest idle keep-alive connection is closed for it; the server
// never holds more than the cap.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	const maxConns = 4
	addr, g := serve(t, Limits{MaxConns: maxConns, IdleTimeout: time.Minute})
	var clients []net.Conn
	for i := range 20 {
		c := keepAlive(t, addr)
		clients = append(clients, c)
		if got := g.openConns(); got > maxConns {
			t.Fatalf("after %d clients got %d open connections, want at most %d", i+1, got, maxConns)
		}
	}
	// Which ones were closed depends on when each turned idle; how many
	// does not.
	testenv.WaitForReason(t, 5*time.Second, "idle connections closed by the server", func() (bool, string) {
		closed := 0
		for _, c := range clients {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed++
			}
		}
		return closed >= len(clients)-maxConns, fmt.Sprintf("%d of %d closed", closed, len(clients))
	})
}

// TestBusyConnectionsMakeNewOnesWait: when every slot is taken by a
// client that is still sending its header, a new client waits in the
// backlog until the header deadline frees a slot, then is served.
func TestBusyConnectionsMakeNewOnesWait(t *testing.T) {
	const maxConns = 2
	addr, g := serve(t, Limits{MaxConns: maxConns, ReadHeaderTimeout: 300 * time.Millisecond})
	for range maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil { // and never the rest
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 5*time.Second, "slow clients admitted", func() bool { return g.openConns() == maxConns })
	var over atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if g.openConns() > maxConns {
					over.Store(true)
				}
			}
		}
	}()
	cl := &http.Client{Timeout: 10 * time.Second}
	res, err := cl.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("got %v, want the new client served once a slow one timed out", err)
	}
	res.Body.Close()
	if over.Load() {
		t.Errorf("got more than %d open connections, want the cap held", maxConns)
	}
}

// TestIdleTimeoutCloses: an idle keep-alive connection is closed after
// IdleTimeout.
func TestIdleTimeoutCloses(t *testing.T) {
	addr, g := serve(t, Limits{IdleTimeout: 200 * time.Millisecond})
	keepAlive(t, addr)
	testenv.WaitFor(t, 5*time.Second, "idle connection closed", func() bool { return g.openConns() == 0 })
}

func TestConnCap(t *testing.T) {
	cases := []struct {
		name    string
		want    int
		fdLimit uint64
		got     int
	}{
		{"ample limit", 64, 1 << 20, 64},
		{"limit 200", 64, 200, 25},
		{"limit 1024", 64, 1024, 64},
		{"tiny limit keeps two", 16, 8, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := capFor(tc.want, tc.fdLimit); got != tc.got {
				t.Errorf("got %d, want %d", got, tc.got)
			}
		})
	}
}
