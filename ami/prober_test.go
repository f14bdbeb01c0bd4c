package ami_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

// fakeClock is a settable clock for back-off and uptime.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newProber(t testing.TB, cfg ami.Config, clock *fakeClock) *ami.Prober {
	t.Helper()
	p, err := ami.New(cfg, ami.WithClock(clock.Now), ami.WithLocation(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProberVerdict(t *testing.T) {
	startup := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	now := startup.Add(3*time.Hour + 5*time.Minute + 7*time.Second)
	base := amitest.Status{AsteriskVersion: "20.5.0", AMIVersion: "9.0.0", Startup: startup, Reload: startup.Add(2 * time.Hour), ProcessedCalls: -1}
	with := func(f func(*amitest.Status)) amitest.Status { s := base; f(&s); return s }
	tests := []struct {
		name       string
		st         amitest.Status
		maxCalls   int
		wantStatus probe.Status
		wantDetail string
		wantValues map[string]float64
	}{
		{"idle", base, 0, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) up 3h, 0 calls",
			map[string]float64{"calls": 0, "uptime_seconds": 11107, "since_reload_seconds": 3907}},
		{"one call", with(func(s *amitest.Status) { s.CurrentCalls = 1 }), 0, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) up 3h, 1 call",
			map[string]float64{"calls": 1, "uptime_seconds": 11107, "since_reload_seconds": 3907}},
		{"below max_calls", with(func(s *amitest.Status) { s.CurrentCalls = 3 }), 4, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) up 3h, 3 calls",
			map[string]float64{"calls": 3, "uptime_seconds": 11107, "since_reload_seconds": 3907}},
		{"at max_calls", with(func(s *amitest.Status) { s.CurrentCalls = 4 }), 4, probe.Degraded, "Asterisk 20.5.0 (AMI 9.0.0) up 3h, 4 calls (max_calls 4 reached)",
			map[string]float64{"calls": 4, "uptime_seconds": 11107, "since_reload_seconds": 3907}},
		{"above max_calls", with(func(s *amitest.Status) { s.CurrentCalls = 9 }), 4, probe.Degraded, "Asterisk 20.5.0 (AMI 9.0.0) up 3h, 9 calls (max_calls 4 reached)",
			map[string]float64{"calls": 9, "uptime_seconds": 11107, "since_reload_seconds": 3907}},
		{"asterisk 22 processed calls", with(func(s *amitest.Status) { s.ProcessedCalls = 812; s.AMIVersion = "11.0.0"; s.AsteriskVersion = "22.8.2" }), 0, probe.OK,
			"Asterisk 22.8.2 (AMI 11.0.0) up 3h, 0 calls",
			map[string]float64{"calls": 0, "uptime_seconds": 11107, "since_reload_seconds": 3907, "processed_calls": 812}},
		{"asterisk 1.6 without dates", with(func(s *amitest.Status) { s.Legacy = true; s.CurrentCalls = 2 }), 0, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) 2 calls",
			map[string]float64{"calls": 2}},
		{"start in the future (zone mismatch)", with(func(s *amitest.Status) { s.Startup = now.Add(time.Hour); s.Reload = now.Add(time.Hour) }), 0, probe.OK,
			"Asterisk 20.5.0 (AMI 9.0.0) 0 calls", map[string]float64{"calls": 0}},
		{"up for days", with(func(s *amitest.Status) { s.Startup = now.Add(-50 * time.Hour) }), 0, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) up 2d2h, 0 calls",
			map[string]float64{"calls": 0, "uptime_seconds": 180000, "since_reload_seconds": 3907}},
		{"up for seconds", with(func(s *amitest.Status) { s.Startup = now.Add(-42 * time.Second) }), 0, probe.OK, "Asterisk 20.5.0 (AMI 9.0.0) up 42s, 0 calls",
			map[string]float64{"calls": 0, "uptime_seconds": 42, "since_reload_seconds": 3907}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startDouble(t, tt.st)
			p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret", MaxCalls: tt.maxCalls}, &fakeClock{t: now})
			r := p.Check(ctxFor(t, generous))
			if r.Status != tt.wantStatus {
				t.Errorf("status: got %v, want %v (err %v)", r.Status, tt.wantStatus, r.Err)
			}
			if r.Detail != tt.wantDetail {
				t.Errorf("detail: got %q, want %q", r.Detail, tt.wantDetail)
			}
			if !reflect.DeepEqual(r.Values, tt.wantValues) {
				t.Errorf("values: got %v, want %v", r.Values, tt.wantValues)
			}
			if !r.Start.Equal(now) {
				t.Errorf("start: got %v, want %v", r.Start, now)
			}
			wantClass := "" // a degraded verdict from a good answer is a bad_response, without an error
			if tt.wantStatus != probe.OK {
				wantClass = probe.ClassBadResponse
			}
			if r.Class != wantClass || r.Err != nil {
				t.Errorf("class, err: got %q, %v, want %q, none", r.Class, r.Err, wantClass)
			}
		})
	}
}

func TestProberKeepsOneConnection(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
	for i := range 5 {
		if r := p.Check(ctxFor(t, generous)); r.Status != probe.OK {
			t.Fatalf("check %d: got %v (%v), want ok", i, r.Status, r.Err)
		}
	}
	if got := srv.Accepted(); got != 1 {
		t.Errorf("connections: got %d, want 1", got)
	}
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins: got %d, want 1", got)
	}
	p.Close()
	acts := srv.Actions()
	if got := acts[len(acts)-1]; got != "Logoff" {
		t.Errorf("last action after Close: got %q, want Logoff", got)
	}
}

// TestProberConcurrentChecks runs checks from several goroutines, as the
// scheduler and a one-shot diagnostic may: they share the connection.
func TestProberConcurrentChecks(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
	var wg sync.WaitGroup
	results := make([]probe.Result, 8)
	for i := range results {
		wg.Go(func() { results[i] = p.Check(ctxFor(t, generous)) })
	}
	wg.Wait()
	for i, r := range results {
		if r.Status != probe.OK {
			t.Errorf("check %d: got %v (%v), want ok", i, r.Status, r.Err)
		}
	}
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins: got %d, want 1", got)
	}
}

// TestProberSurvivesRestart: a kept connection that the server closed while
// idle is replaced within the same check, so a restarted Asterisk does not
// cost a failed check.
func TestProberSurvivesRestart(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
	if r := p.Check(ctxFor(t, generous)); r.Status != probe.OK {
		t.Fatalf("first check: got %v (%v), want ok", r.Status, r.Err)
	}
	srv.DropConnections()
	if r := p.Check(ctxFor(t, generous)); r.Status != probe.OK {
		t.Fatalf("check after the drop: got %v (%v), want ok", r.Status, r.Err)
	}
	if got := srv.Logins(); got != 2 {
		t.Errorf("logins: got %d, want 2", got)
	}
}

func TestProberFailures(t *testing.T) {
	tests := []struct {
		name       string
		fault      amitest.Fault
		delay      time.Duration
		deny       []string
		wantClass  string
		wantDetail string
		wantLogins int // logins by the end: 1 while the connection survives; a dropped one is replaced
	}{
		{name: "no pong", fault: amitest.FaultHang, wantClass: probe.ClassTimeout, wantDetail: "no answer", wantLogins: 2},
		{name: "slow beyond the deadline", delay: 3 * time.Second, wantClass: probe.ClassTimeout, wantDetail: "no answer", wantLogins: 2},
		{name: "garbage", fault: amitest.FaultGarbage, wantClass: probe.ClassBadResponse, wantDetail: "bad answer", wantLogins: 2},
		// A kept connection that dies is replaced once within the check; the
		// replacement fails too, and recovery logs in a third time.
		{name: "hang-up mid-response", fault: amitest.FaultCloseMidResponse, wantClass: probe.ClassTransport, wantDetail: "no answer", wantLogins: 3},
		{name: "CoreStatus not permitted", deny: []string{"CoreStatus"}, wantClass: probe.ClassAuth, wantDetail: "permission denied", wantLogins: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startDouble(t, fixtureStatus)
			p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
			if r := p.Check(ctxFor(t, generous)); r.Status != probe.OK {
				t.Fatalf("healthy check: got %v (%v), want ok", r.Status, r.Err)
			}
			srv.SetFault(tt.fault)
			srv.SetDelay(tt.delay)
			srv.SetDenied(tt.deny...)
			deadline := 400 * time.Millisecond
			began := time.Now()
			r := p.Check(ctxFor(t, deadline))
			if el := time.Since(began); el > deadline+5*time.Second {
				t.Errorf("check took %s, want about the deadline %s", el, deadline)
			}
			if r.Status != probe.Failed || r.Class != tt.wantClass || r.Detail != tt.wantDetail {
				t.Errorf("got %v %q %q (%v), want failed %q %q", r.Status, r.Class, r.Detail, r.Err, tt.wantClass, tt.wantDetail)
			}
			if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "ami: ") {
				t.Errorf("err: got %v, want an error prefixed \"ami: \"", r.Err)
			}
			srv.SetFault(amitest.FaultNone)
			srv.SetDelay(0)
			srv.SetDenied()
			if r := p.Check(ctxFor(t, generous)); r.Status != probe.OK {
				t.Errorf("recovery check: got %v (%v), want ok", r.Status, r.Err)
			}
			if got := srv.Logins(); got != tt.wantLogins {
				t.Errorf("logins: got %d, want %d", got, tt.wantLogins)
			}
		})
	}
}

func TestProberBackoff(t *testing.T) {
	tests := []struct {
		name    string
		fault   amitest.Fault
		secret  string
		class   string
		retries []time.Duration // successive back-off waits
	}{
		{"not AMI", amitest.FaultBadBanner, "secret", probe.ClassBadResponse,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"wrong secret", amitest.FaultNone, "wrong", probe.ClassAuth,
			[]time.Duration{time.Minute, time.Minute, time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startDouble(t, fixtureStatus)
			srv.SetFault(tt.fault)
			clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
			p := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: tt.secret}, clock)
			check := func() probe.Result { return p.Check(ctxFor(t, generous)) }
			if r := check(); r.Status != probe.Failed || r.Class != tt.class {
				t.Fatalf("first check: got %v %q (%v), want failed %q", r.Status, r.Class, r.Err, tt.class)
			}
			for i, wait := range tt.retries {
				n := srv.Accepted()
				clock.Advance(wait - time.Millisecond)
				r := check()
				if got := srv.Accepted(); got != n {
					t.Fatalf("retry %d: connected after %s, want no attempt before %s", i, wait-time.Millisecond, wait)
				}
				if r.Status != probe.Failed || r.Class != tt.class || !strings.Contains(r.Err.Error(), "next attempt in 1ms") {
					t.Errorf("retry %d during back-off: got %v %q %v, want failed %q naming the next attempt", i, r.Status, r.Class, r.Err, tt.class)
				}
				clock.Advance(time.Millisecond)
				check()
				if got := srv.Accepted(); got != n+1 {
					t.Fatalf("retry %d: got %d connections after %s, want %d", i, got, wait, n+1)
				}
			}
			// Fixed: the next attempt after the back-off succeeds and resets it.
			srv.SetFault(amitest.FaultNone)
			p2 := newProber(t, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, clock)
			if r := p2.Check(ctxFor(t, generous)); r.Status != probe.OK {
				t.Errorf("after the fix: got %v (%v), want ok", r.Status, r.Err)
			}
		})
	}
}

func TestProberRefusedAndSilent(t *testing.T) {
	tests := []struct {
		name  string
		addr  func(t *testing.T) string
		class string
	}{
		{"nothing listens", func(t *testing.T) string { return testenv.FreeAddr(t) }, probe.ClassRefused},
		{"accepts but never greets", func(t *testing.T) string {
			srv := startDouble(t, fixtureStatus)
			srv.SetFault(amitest.FaultSilent)
			return srv.Addr()
		}, probe.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, ami.Config{Address: tt.addr(t), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
			r := p.Check(ctxFor(t, 300*time.Millisecond))
			if r.Status != probe.Failed || r.Class != tt.class {
				t.Errorf("got %v %q (%v), want failed %q", r.Status, r.Class, r.Err, tt.class)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  ami.Config
		ok   bool
	}{
		{"default address", ami.Config{Username: "u"}, true},
		{"address without port", ami.Config{Address: "127.0.0.1", Username: "u"}, false},
		{"no username", ami.Config{Address: "127.0.0.1:5038"}, false},
		{"secret with newline", ami.Config{Username: "u", Secret: "a\nb"}, false},
		{"negative max_calls", ami.Config{Username: "u", MaxCalls: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ami.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("got error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func BenchmarkProberCheck(b *testing.B) {
	srv := startDouble(b, fixtureStatus)
	p := newProber(b, ami.Config{Address: srv.Addr(), Username: "pbxha", Secret: "secret"}, &fakeClock{t: time.Now()})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		cctx, cancel := context.WithTimeout(ctx, generous)
		r := p.Check(cctx)
		cancel()
		if r.Status != probe.OK {
			b.Fatalf("got %v (%v), want ok", r.Status, r.Err)
		}
	}
}
