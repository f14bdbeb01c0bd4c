package sipcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// mode is one way of reaching the double: a transport, pooled or fresh.
type mode struct {
	name      string
	transport string
	fresh     bool
}

var modes = []mode{
	{"udp", "udp", false},
	{"tcp", "tcp", false},
	{"tcp-fresh", "tcp", true},
	{"tls", "tls", false},
	{"tls-fresh", "tls", true},
}

// startDouble starts the double with UDP, TCP and TLS and writes its CA file.
func startDouble(t *testing.T) (*siptest.Server, string) {
	t.Helper()
	srv := siptest.Start(t, siptest.Options{Transports: []string{"udp", "tcp", "tls"}})
	ca, err := srv.Cert().WriteCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func newProber(t testing.TB, cfg Config) *Prober {
	t.Helper()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func cfgFor(srv *siptest.Server, ca string, m mode) Config {
	c := Config{Target: srv.URI(m.transport), FreshConnection: m.fresh}
	if m.transport == "tls" {
		c.TLS.CAFile = ca
	}
	return c
}

func check(p *Prober, timeout time.Duration) (probe.Result, time.Duration) {
	// The clock starts before the deadline is set, so that a check that
	// ends at its deadline never reads as shorter than the timeout.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := p.Check(ctx)
	return r, time.Since(start)
}

func TestCheckOutcomes(t *testing.T) {
	srv, ca := startDouble(t)
	garbage := []byte("HTTP/1.1 400 Bad Request\r\n\r\n\x00\xff not sip at all\r\n\r\n")
	cases := []struct {
		name    string
		setup   func()
		accept  string
		timeout time.Duration
		status  probe.Status
		code    int
		class   string
		detail  string
		minTime time.Duration
		// garbageClass: on the pooled stream path sipgo drops the
		// connection on unparseable bytes, so the check ends as a
		// transport failure, at once, instead of a bad response.
		pooledClass string
	}{
		{name: "200 ok", setup: func() { srv.Answer(200, "OK") }, status: probe.OK, code: 200, detail: "200 OK"},
		{name: "404 accepted by class list", setup: func() { srv.Answer(404, "Not Found") }, accept: "2xx,401,403,404",
			status: probe.OK, code: 404, detail: "404 Not Found"},
		{name: "401 not accepted by default", setup: func() { srv.Answer(401, "Unauthorized") },
			status: probe.Failed, code: 401, class: probe.ClassBadResponse, detail: "401 Unauthorized"},
		{name: "503 degraded", setup: func() { srv.Answer(503, "Maximum Calls In Progress") },
			status: probe.Degraded, code: 503, class: probe.ClassBadResponse, detail: "503 Maximum Calls In Progress"},
		{name: "408 received is an answer", setup: func() { srv.Answer(408, "Request Timeout") },
			status: probe.Failed, code: 408, class: probe.ClassBadResponse, detail: "408 Request Timeout"},
		{name: "slow answer within deadline", setup: func() { srv.Answer(200, "OK"); srv.Slow(300 * time.Millisecond) },
			timeout: 3 * time.Second, status: probe.OK, code: 200, detail: "200 OK", minTime: 300 * time.Millisecond},
		{name: "slow answer after deadline", setup: func() { srv.Answer(200, "OK"); srv.Slow(3 * time.Second) },
			timeout: 400 * time.Millisecond, status: probe.Failed, class: probe.ClassTimeout, detail: "no reply within 400ms",
			minTime: 400 * time.Millisecond},
		{name: "silent is a local timeout", setup: srv.Silent, timeout: 700 * time.Millisecond,
			status: probe.Failed, class: probe.ClassTimeout, detail: "no reply within 700ms", minTime: 700 * time.Millisecond},
		{name: "garbage", setup: func() { srv.Garbage(garbage) }, timeout: 3 * time.Second,
			status: probe.Failed, class: probe.ClassBadResponse, pooledClass: probe.ClassTransport},
	}
	for _, m := range modes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				tc.setup()
				cfg := cfgFor(srv, ca, m)
				cfg.Accept = tc.accept
				p := newProber(t, cfg)
				timeout := tc.timeout
				if timeout == 0 {
					timeout = 3 * time.Second
				}
				r, took := check(p, timeout)
				class := tc.class
				if tc.pooledClass != "" && m.transport != "udp" && !m.fresh {
					class = tc.pooledClass
				}
				if r.Status != tc.status || r.Code != tc.code || r.Class != class {
					t.Fatalf("got status=%s code=%d class=%q (%v), want status=%s code=%d class=%q",
						r.Status, r.Code, r.Class, r.Err, tc.status, tc.code, class)
				}
				if tc.detail != "" && r.Detail != tc.detail && !sameTimeoutDetail(r.Detail, tc.detail) {
					t.Errorf("got detail %q, want %q", r.Detail, tc.detail)
				}
				if (r.Status == probe.OK) != (r.Err == nil) {
					t.Errorf("got err %v with status %s, want an error exactly when not ok", r.Err, r.Status)
				}
				if r.Err != nil && !strings.HasPrefix(r.Err.Error(), "sipcheck: options "+cfg.Target+": ") {
					t.Errorf("got error %q, want prefix %q", r.Err, "sipcheck: options "+cfg.Target+": ")
				}
				if took < tc.minTime {
					t.Errorf("got check time %s, want at least %s", took, tc.minTime)
				}
				// A check never outlives its deadline (generous bound for a
				// loaded machine).
				if took > timeout+500*time.Millisecond {
					t.Errorf("got check time %s, want at most the %s deadline", took, timeout)
				}
				if r.Status != probe.Failed || r.Code != 0 {
					if r.Latency <= 0 || r.Latency > took {
						t.Errorf("got latency %s, want RTT in (0, %s]", r.Latency, took)
					}
				}
				if r.Start.IsZero() {
					t.Error("got zero Start, want the check's start time")
				}
			})
		}
	}
}

func TestGarbageFailsFast(t *testing.T) {
	srv, ca := startDouble(t)
	srv.Garbage([]byte("\x16\x03\x01 garbage garbage\r\n\r\n"))
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, cfgFor(srv, ca, m))
			r, took := check(p, 5*time.Second)
			if r.Status != probe.Failed {
				t.Fatalf("got %s (%v), want failed", r.Status, r.Err)
			}
			if took > 2*time.Second {
				t.Errorf("got %s for a garbage reply, want well under the 5s deadline", took)
			}
		})
	}
}

func TestClosedPortRefused(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens, UDP or TCP
	for _, m := range modes {
		if m.transport == "tls" {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, Config{Target: "sip:" + addr + ";transport=" + m.transport, FreshConnection: m.fresh})
			r, took := check(p, 5*time.Second)
			if r.Status != probe.Failed || r.Class != probe.ClassRefused {
				t.Fatalf("got status=%s class=%q (%v), want failed/refused", r.Status, r.Class, r.Err)
			}
			if r.Detail != "connection refused" {
				t.Errorf("got detail %q, want %q", r.Detail, "connection refused")
			}
			// sipgo alone would wait out the 5s deadline (or Timer B, 32s).
			if took > time.Second {
				t.Errorf("got %s, want refused well within the 5s deadline", took)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	srv, ca := startDouble(t)
	other, err := siptest.NewCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := other.WriteCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tls    TLSConfig
		status probe.Status
		class  string
	}{
		{"trusted CA file", TLSConfig{CAFile: ca}, probe.OK, ""},
		{"system roots do not know the cert", TLSConfig{}, probe.Failed, probe.ClassTLS},
		{"another CA", TLSConfig{CAFile: otherCA}, probe.Failed, probe.ClassTLS},
		{"wrong server name", TLSConfig{CAFile: ca, ServerName: "pbx.example.net"}, probe.Failed, probe.ClassTLS},
		{"insecure skips verification", TLSConfig{Insecure: true}, probe.OK, ""},
	}
	for _, fresh := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if fresh {
				name = "fresh/" + name
			}
			t.Run(name, func(t *testing.T) {
				p := newProber(t, Config{Target: srv.URI("tls"), TLS: tc.tls, FreshConnection: fresh})
				r, _ := check(p, 3*time.Second)
				if r.Status != tc.status || r.Class != tc.class {
					t.Fatalf("got status=%s class=%q (%v), want %s/%q", r.Status, r.Class, r.Err, tc.status, tc.class)
				}
			})
		}
	}
}

// TestFreshConnectionNoticesStoppedAccept: a PBX whose accept loop hangs
// still serves its old connection; only a fresh connection notices.
func TestFreshConnectionNoticesStoppedAccept(t *testing.T) {
	for _, tp := range []string{"tcp", "tls"} {
		t.Run(tp, func(t *testing.T) {
			srv, ca := startDouble(t)
			pooled := newProber(t, cfgFor(srv, ca, mode{transport: tp}))
			fresh := newProber(t, cfgFor(srv, ca, mode{transport: tp, fresh: true}))
			for _, p := range []*Prober{pooled, fresh} {
				if r, _ := check(p, 3*time.Second); r.Status != probe.OK {
					t.Fatalf("before: got %s (%v), want ok", r.Status, r.Err)
				}
			}
			srv.SetAccepting(false)
			if r, _ := check(pooled, 3*time.Second); r.Status != probe.OK {
				t.Errorf("pooled after accept stopped: got %s (%v), want ok (old connection still served)", r.Status, r.Err)
			}
			r, _ := check(fresh, 700*time.Millisecond)
			if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
				t.Errorf("fresh after accept stopped: got %s/%q (%v), want failed/timeout", r.Status, r.Class, r.Err)
			}
			srv.SetAccepting(true)
			if r, _ := check(fresh, 3*time.Second); r.Status != probe.OK {
				t.Errorf("fresh after accept resumed: got %s (%v), want ok", r.Status, r.Err)
			}
		})
	}
}

func TestViaAndFromCarryLocalAddress(t *testing.T) {
	srv, ca := startDouble(t)
	cases := []struct {
		name      string
		cfg       Config
		wantHost  string
		wantUser  string
		wantAgent string
	}{
		{name: "defaults", wantHost: "127.0.0.1", wantUser: "pbxha", wantAgent: "pbxha"},
		{name: "configured", cfg: Config{LocalHost: "pbx-a.example.net", FromUser: "monitor", UserAgent: "pbxha/test"},
			wantHost: "pbx-a.example.net", wantUser: "monitor", wantAgent: "pbxha/test"},
	}
	for _, m := range modes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				cfg := tc.cfg
				base := cfgFor(srv, ca, m)
				cfg.Target, cfg.FreshConnection, cfg.TLS = base.Target, base.FreshConnection, base.TLS
				p := newProber(t, cfg)
				if r, _ := check(p, 3*time.Second); r.Status != probe.OK {
					t.Fatalf("got %s (%v), want ok", r.Status, r.Err)
				}
				got := srv.Received()
				if len(got) == 0 {
					t.Fatal("got no request at the double")
				}
				req := got[len(got)-1]
				wantVia := "SIP/2.0/" + strings.ToUpper(m.transport) + " " + tc.wantHost + ":"
				if !strings.HasPrefix(req.Via, wantVia) || strings.Contains(req.Via, "0.0.0.0") {
					t.Errorf("got Via %q, want prefix %q", req.Via, wantVia)
				}
				if !strings.Contains(req.Via, ";branch=z9hG4bK") {
					t.Errorf("got Via %q, want an RFC 3261 branch", req.Via)
				}
				if wantFrom := "sip:" + tc.wantUser + "@" + tc.wantHost; !strings.Contains(req.From, wantFrom) || !strings.Contains(req.From, ";tag=") {
					t.Errorf("got From %q, want %q with a tag", req.From, wantFrom)
				}
				if req.UserAgent != tc.wantAgent {
					t.Errorf("got User-Agent %q, want %q", req.UserAgent, tc.wantAgent)
				}
				if req.URI != cfg.Target {
					t.Errorf("got Request-URI %q, want %q", req.URI, cfg.Target)
				}
			})
		}
	}
}

// TestUDPRetransmitsPerTimerE: a silent server gets the request at 0, T1
// and 3*T1 within a 2s deadline, and nothing after the check returned.
func TestUDPRetransmitsPerTimerE(t *testing.T) {
	srv := siptest.Start(t, siptest.Options{Transports: []string{"udp"}})
	srv.Silent()
	p := newProber(t, Config{Target: srv.URI("udp")})
	r, _ := check(p, 2*time.Second)
	if r.Class != probe.ClassTimeout {
		t.Fatalf("got class %q (%v), want timeout", r.Class, r.Err)
	}
	testenv.WaitForReason(t, 2*time.Second, "3 requests at the silent server", func() (bool, string) {
		n := srv.Requests()
		return n >= 3, fmt.Sprintf("%d requests", n)
	})
	// Timer E's next retransmission (at 3.5s) would come after the
	// deadline; the socket is closed, so the count stays.
	if got := srv.Requests(); got != 3 {
		t.Errorf("got %d requests, want 3 (0, 0.5s, 1.5s)", got)
	}
}

func TestCanceledCheckReturnsAtOnce(t *testing.T) {
	srv, ca := startDouble(t)
	srv.Silent()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, cfgFor(srv, ca, m))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			r := p.Check(ctx)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("got %s after cancel at 200ms, want prompt return", took)
			}
			if r.Status != probe.Failed || !errors.Is(r.Err, context.Canceled) {
				t.Errorf("got %s (%v), want failed with context.Canceled", r.Status, r.Err)
			}
		})
	}
}

func TestConcurrentChecks(t *testing.T) {
	srv, ca := startDouble(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, cfgFor(srv, ca, m))
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					for range 20 {
						if r, _ := check(p, 5*time.Second); r.Status != probe.OK {
							errs <- r.Err
							return
						}
					}
					errs <- nil
				}()
			}
			for range 8 {
				if err := <-errs; err != nil {
					t.Errorf("got %v, want every concurrent check ok", err)
				}
			}
		})
	}
}

func TestCheckAfterClose(t *testing.T) {
	srv, ca := startDouble(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newProber(t, cfgFor(srv, ca, m))
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			r, took := check(p, 3*time.Second)
			if r.Status != probe.Failed || r.Class != probe.ClassConfig || took > time.Second {
				t.Errorf("got %s/%q in %s (%v), want failed/config at once", r.Status, r.Class, took, r.Err)
			}
		})
	}
}

// sameTimeoutDetail accepts "no reply within 397ms" for "no reply within
// 400ms": the budget is measured from the check's start, which a busy
// machine may delay by a few milliseconds after the deadline was set.
func sameTimeoutDetail(got, want string) bool {
	const prefix = "no reply within "
	g, gok := strings.CutPrefix(got, prefix)
	w, wok := strings.CutPrefix(want, prefix)
	if !gok || !wok {
		return false
	}
	gd, err1 := time.ParseDuration(g)
	wd, err2 := time.ParseDuration(w)
	return err1 == nil && err2 == nil && gd <= wd && wd-gd <= 50*time.Millisecond
}
