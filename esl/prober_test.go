package esl

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

// fakeClock is a settable time source for the back-off.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestProber(t testing.TB, cfg Config, clock *fakeClock) *Prober {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	p, err := newProber(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func check(p *Prober, timeout time.Duration) probe.Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Check(ctx)
}

func TestProberHealthy(t *testing.T) {
	s := startServer(t, esltest.Options{})
	p := newTestProber(t, Config{Address: s.Addr(), Profiles: []string{"internal"}, CountCalls: true}, nil)
	r := check(p, bound)
	if r.Status != probe.OK || r.Err != nil || r.Class != "" {
		t.Fatalf("got %s %q %v, want ok", r.Status, r.Class, r.Err)
	}
	if want := "FreeSWITCH ready, 3/1000 sessions, 3 calls, internal RUNNING"; r.Detail != want {
		t.Errorf("got detail %q, want %q", r.Detail, want)
	}
	if r.Values["calls"] != 3 || r.Values["sessions"] != 3 || r.Values["profiles_running"] != 2 {
		t.Errorf("got values %v, want calls=3 sessions=3 profiles_running=2", r.Values)
	}
	if r.Latency <= 0 || r.Start.IsZero() {
		t.Errorf("got latency %s start %s, want both set", r.Latency, r.Start)
	}
}

// TestProberKeepsOneConnection: checks reuse the connection.
func TestProberKeepsOneConnection(t *testing.T) {
	s := startServer(t, esltest.Options{})
	p := newTestProber(t, Config{Address: s.Addr()}, nil)
	for i := range 5 {
		if r := check(p, bound); r.Status != probe.OK {
			t.Fatalf("check %d: got %s %v, want ok", i, r.Status, r.Err)
		}
	}
	if n := s.Connections(); n != 1 {
		t.Errorf("got %d connections, want 1", n)
	}
	if got, want := len(s.Commands()), 10; got != want {
		t.Errorf("got %d commands, want %d (status and sofia status per check)", got, want)
	}
}

func TestProberVerdictsOverTheWire(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		responses map[string]string
		want      probe.Status
		wantClass string
		wantErr   string
	}{
		{
			name:      "not ready",
			responses: map[string]string{"status": "status-1.10-not-ready.txt", "sofia status": "sofia-status-1.10.txt"},
			want:      probe.Failed, wantClass: probe.ClassBadResponse, wantErr: "FreeSWITCH is not ready",
		},
		{
			name:      "required profile missing",
			cfg:       Config{Profiles: []string{"internal", "external"}},
			responses: map[string]string{"status": "status-1.10.txt", "sofia status": "sofia-status-internal-only.txt"},
			want:      probe.Failed, wantClass: probe.ClassBadResponse, wantErr: "profile external is not running",
		},
		{
			name:      "mod_sofia not loaded, profile required",
			cfg:       Config{Profiles: []string{"internal"}},
			responses: map[string]string{"status": "status-1.10.txt"},
			want:      probe.Failed, wantClass: probe.ClassBadResponse, wantErr: "-ERR sofia Command not found!",
		},
		{
			name:      "mod_sofia not loaded, nothing required",
			responses: map[string]string{"status": "status-1.10.txt"},
			want:      probe.OK,
		},
		{
			name:      "busy",
			cfg:       Config{MaxSessionsShare: 0.9},
			responses: map[string]string{"status": "status-1.8-busy.txt", "sofia status": "sofia-status-1.10.txt"},
			want:      probe.Degraded, wantClass: probe.ClassBadResponse, wantErr: "exceed 90% of max sessions",
		},
		{
			name:      "status garbage",
			responses: map[string]string{"status": "calls-count.txt", "sofia status": "sofia-status-1.10.txt"},
			want:      probe.Failed, wantClass: probe.ClassBadResponse, wantErr: "not a status output",
		},
		{
			name:      "calls count unavailable",
			cfg:       Config{CountCalls: true},
			responses: map[string]string{"status": "status-1.10.txt", "sofia status": "sofia-status-1.10.txt"},
			want:      probe.Failed, wantClass: probe.ClassBadResponse, wantErr: "-ERR show Command not found!",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := map[string]string{}
			for cmd, f := range tt.responses {
				resp[cmd] = fixture(t, f)
			}
			s := startServer(t, esltest.Options{Responses: resp})
			cfg := tt.cfg
			cfg.Address = s.Addr()
			p := newTestProber(t, cfg, nil)
			r := check(p, bound)
			if r.Status != tt.want || r.Class != tt.wantClass {
				t.Fatalf("got %s %q (%v), want %s %q", r.Status, r.Class, r.Err, tt.want, tt.wantClass)
			}
			if tt.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr)) {
				t.Errorf("got err %v, want it to contain %q", r.Err, tt.wantErr)
			}
		})
	}
}

// TestProberFaults: each misbehaviour ends the check by its deadline with
// the right class, and the connection is not reused.
func TestProberFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     esltest.Fault
		afterAuth bool
		wantClass string
	}{
		{name: "silent server", fault: esltest.FaultSilent, wantClass: probe.ClassTimeout},
		{name: "close after accept", fault: esltest.FaultCloseOnAccept, wantClass: probe.ClassTransport},
		{name: "rude rejection", fault: esltest.FaultRudeRejection, wantClass: probe.ClassAuth},
		{name: "no reply", fault: esltest.FaultSilentReply, afterAuth: true, wantClass: probe.ClassTimeout},
		{name: "truncated frame", fault: esltest.FaultTruncatedReply, afterAuth: true, wantClass: probe.ClassBadResponse},
		{name: "truncated frame then silence", fault: esltest.FaultTruncatedHang, afterAuth: true, wantClass: probe.ClassTimeout},
		{name: "garbage", fault: esltest.FaultGarbageReply, afterAuth: true, wantClass: probe.ClassBadResponse},
		{name: "wrong frame type", fault: esltest.FaultWrongTypeReply, afterAuth: true, wantClass: probe.ClassBadResponse},
		{name: "disconnect notice", fault: esltest.FaultDisconnectOnCommand, afterAuth: true, wantClass: probe.ClassTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, esltest.Options{})
			clock := &fakeClock{t: time.Unix(1000, 0)}
			p := newTestProber(t, Config{Address: s.Addr()}, clock)
			if tt.afterAuth {
				if r := check(p, bound); r.Status != probe.OK {
					t.Fatalf("first check: got %s %v, want ok", r.Status, r.Err)
				}
			}
			s.SetFault(tt.fault)
			start := time.Now()
			r := check(p, 300*time.Millisecond)
			if el := time.Since(start); el > bound {
				t.Errorf("got return after %s, want within %s", el, bound)
			}
			if r.Status != probe.Failed || r.Class != tt.wantClass {
				t.Fatalf("got %s %q (%v), want failed %q", r.Status, r.Class, r.Err, tt.wantClass)
			}
			// The server recovers; the next check (after any back-off) must
			// use a new connection and read correct answers.
			s.SetFault(esltest.FaultNone)
			before := s.Connections()
			clock.advance(time.Hour)
			if r := check(p, bound); r.Status != probe.OK {
				t.Fatalf("after recovery: got %s %v, want ok", r.Status, r.Err)
			}
			if got := s.Connections(); got != before+1 {
				t.Errorf("got %d connections after recovery, want %d", got, before+1)
			}
		})
	}
}

// TestProberLateReply: a reply slower than the check's deadline fails the
// check; the next check reads its own answers on a new connection.
func TestProberLateReply(t *testing.T) {
	s := startServer(t, esltest.Options{Delays: map[string]time.Duration{"status": 700 * time.Millisecond}})
	p := newTestProber(t, Config{Address: s.Addr(), CountCalls: true}, nil)
	r := check(p, 150*time.Millisecond)
	if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
		t.Fatalf("got %s %q %v, want failed timeout", r.Status, r.Class, r.Err)
	}
	if want := "no reply within"; !strings.Contains(r.Err.Error(), want) {
		t.Errorf("got err %v, want it to contain %q", r.Err, want)
	}
	s.SetDelay("status", 0)
	r = check(p, bound)
	if r.Status != probe.OK || r.Values["calls"] != 3 || r.Values["max_sessions"] != 1000 {
		t.Fatalf("got %s %v %v, want ok with calls=3 max_sessions=1000", r.Status, r.Values, r.Err)
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("got %d connections, want 2", n)
	}
}

// TestProberReconnectAfterRestart: FreeSWITCH restarts between two checks.
// The kept connection is found dead and replaced within the same check.
func TestProberReconnectAfterRestart(t *testing.T) {
	s := startServer(t, esltest.Options{})
	addr := s.Addr()
	p := newTestProber(t, Config{Address: addr}, nil)
	if r := check(p, bound); r.Status != probe.OK {
		t.Fatalf("first check: got %s %v", r.Status, r.Err)
	}
	s.DisconnectAll()
	s.Close()
	s2, err := esltest.Listen(addr, esltest.Options{Responses: map[string]string{
		"status": fixture(t, "status-1.10.txt"), "sofia status": fixture(t, "sofia-status-1.10.txt"),
	}})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	t.Cleanup(func() { s2.Close() })
	if r := check(p, bound); r.Status != probe.OK {
		t.Fatalf("after restart: got %s %q %v, want ok", r.Status, r.Class, r.Err)
	}
	if n := s2.Connections(); n != 1 {
		t.Errorf("got %d connections to the restarted server, want 1", n)
	}
}

// TestProberDownThenUp: while FreeSWITCH is down checks fail with refused;
// once it listens again and the back-off has passed, a check reconnects.
func TestProberDownThenUp(t *testing.T) {
	addr := testenv.FreeAddr(t)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newTestProber(t, Config{Address: addr}, clock)
	if r := check(p, bound); r.Status != probe.Failed || r.Class != probe.ClassRefused {
		t.Fatalf("down: got %s %q %v, want failed refused", r.Status, r.Class, r.Err)
	}
	s, err := esltest.Listen(addr, esltest.Options{Responses: map[string]string{"status": fixture(t, "status-1.10.txt")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Within the back-off the check reports the last failure without dialing.
	if r := check(p, bound); r.Status != probe.Failed || r.Class != probe.ClassRefused || !strings.HasPrefix(r.Detail, "not connected, next dial in") {
		t.Errorf("in back-off: got %s %q %q, want failed refused, not connected", r.Status, r.Class, r.Detail)
	}
	if n := s.Connections(); n != 0 {
		t.Errorf("in back-off: got %d connections, want 0", n)
	}
	clock.advance(DefaultBackoffInitial)
	if r := check(p, bound); r.Status != probe.OK {
		t.Fatalf("up: got %s %q %v, want ok", r.Status, r.Class, r.Err)
	}
}

// TestProberAuthBackoff: a wrong password is reported with class auth and is
// not retried before AuthBackoff, however often Check runs.
func TestProberAuthBackoff(t *testing.T) {
	s := startServer(t, esltest.Options{Password: "secret"})
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newTestProber(t, Config{Address: s.Addr(), Password: "wrong", AuthBackoff: time.Minute}, clock)
	for i := range 50 {
		r := check(p, bound)
		if r.Status != probe.Failed || r.Class != probe.ClassAuth || !errors.Is(r.Err, ErrAuth) {
			t.Fatalf("check %d: got %s %q %v, want failed auth", i, r.Status, r.Class, r.Err)
		}
		clock.advance(time.Second) // 50 checks one second apart: less than a minute
	}
	if _, bad := s.Logins(); bad != 1 {
		t.Errorf("got %d rejected logins in 50 checks, want 1", bad)
	}
	clock.advance(10 * time.Second)
	check(p, bound)
	if _, bad := s.Logins(); bad != 2 {
		t.Errorf("got %d rejected logins after the back-off, want 2", bad)
	}
}

// TestProberBackoffGrows: failed dials wait BackoffInitial, doubling up to
// BackoffMax, and a success resets it.
func TestProberBackoffGrows(t *testing.T) {
	s := startServer(t, esltest.Options{Fault: esltest.FaultCloseOnAccept})
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newTestProber(t, Config{Address: s.Addr(), BackoffInitial: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond}, clock)
	waits := []time.Duration{100, 200, 400, 500, 500}
	for i, w := range waits {
		check(p, bound)
		if got := s.Connections(); got != i+1 {
			t.Fatalf("attempt %d: got %d connections, want %d", i, got, i+1)
		}
		clock.advance(w*time.Millisecond - time.Millisecond)
		check(p, bound) // still inside the back-off: no dial
		if got := s.Connections(); got != i+1 {
			t.Fatalf("1ms before wait %dms: got %d connections, want %d", w, got, i+1)
		}
		clock.advance(time.Millisecond)
	}
	s.SetFault(esltest.FaultNone)
	if r := check(p, bound); r.Status != probe.OK {
		t.Fatalf("after recovery: got %s %q %v, want ok", r.Status, r.Class, r.Err)
	}
	// A success resets the back-off: the next dial failure waits 100ms again.
	p.Close()
	s.SetFault(esltest.FaultCloseOnAccept)
	n := s.Connections()
	check(p, bound)
	clock.advance(100 * time.Millisecond)
	check(p, bound)
	if got := s.Connections(); got != n+2 {
		t.Errorf("after a reset: got %d connections, want %d", got, n+2)
	}
}

// TestProberConcurrentChecks: Check is safe for concurrent use.
func TestProberConcurrentChecks(t *testing.T) {
	s := startServer(t, esltest.Options{})
	p := newTestProber(t, Config{Address: s.Addr(), CountCalls: true}, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if r := check(p, 10*time.Second); r.Status != probe.OK {
					errs <- r.Status.String() + " " + r.Class
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("got %s, want ok", e)
	}
	if n := s.Connections(); n != 1 {
		t.Errorf("got %d connections, want 1", n)
	}
}

// TestProberCheckWithoutDeadline: a context without deadline is bounded by
// Config.Timeout.
func TestProberCheckWithoutDeadline(t *testing.T) {
	s := startServer(t, esltest.Options{Fault: esltest.FaultSilent})
	p := newTestProber(t, Config{Address: s.Addr(), Timeout: 200 * time.Millisecond}, nil)
	start := time.Now()
	r := p.Check(context.Background())
	if el := time.Since(start); el > bound {
		t.Errorf("got return after %s, want within %s", el, bound)
	}
	if r.Class != probe.ClassTimeout {
		t.Errorf("got class %q, want timeout", r.Class)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address without port", Config{Address: "localhost"}, "address"},
		{"password with newline", Config{Password: "a\nb"}, "line breaks"},
		{"share above 1", Config{MaxSessionsShare: 1.5}, "max_sessions_share"},
		{"negative idle CPU", Config{MinIdleCPU: -1}, "min_idle_cpu"},
		{"profile with space", Config{Profiles: []string{"in ternal"}}, "profile"},
		{"max below initial", Config{BackoffInitial: time.Second, BackoffMax: time.Millisecond}, "back-off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
