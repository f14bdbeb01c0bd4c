package ami_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

// generous is the deadline for steps that should succeed on a busy machine.
const generous = 10 * time.Second

func startDouble(t testing.TB, st amitest.Status) *amitest.Server {
	t.Helper()
	srv, err := amitest.Start(amitest.Options{Status: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestClientSession(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	ctx := ctxFor(t, generous)
	c, err := ami.Dial(ctx, srv.Addr(), "pbxha", "secret")
	if err != nil {
		t.Fatalf("dial: got %v, want no error", err)
	}
	defer c.Close()
	if got, want := c.AMIVersion(), "9.0.0"; got != want {
		t.Errorf("AMI version: got %q, want %q", got, want)
	}
	if got, want := c.Banner(), "Asterisk Call Manager/9.0.0"; got != want {
		t.Errorf("banner: got %q, want %q", got, want)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping: got %v, want no error", err)
	}
	st, err := c.CoreStatus(ctx, time.UTC)
	if err != nil {
		t.Fatalf("corestatus: got %v, want no error", err)
	}
	want := ami.CoreStatus{Startup: fixtureStatus.Startup, Reload: fixtureStatus.Reload, CurrentCalls: 4, ProcessedCalls: -1}
	if st != want {
		t.Errorf("corestatus: got %+v, want %+v", st, want)
	}
	s, err := c.CoreSettings(ctx)
	if err != nil || s.AsteriskVersion != "20.5.0" || s.AMIVersion != "9.0.0" {
		t.Errorf("coresettings: got %+v, %v, want versions 20.5.0 and 9.0.0", s, err)
	}

	// An unknown action is refused, and the session goes on.
	_, err = c.Do(ctx, "Bogus")
	var re *ami.ResponseError
	if !errors.As(err, &re) || re.Message != "Invalid/unknown command: Bogus. Use Action: ListCommands to show available commands." {
		t.Errorf("unknown action: got %v, want a ResponseError", err)
	}
	if !c.Usable() {
		t.Errorf("usable after a refused action: got false, want true")
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping after a refused action: got %v, want no error", err)
	}
	if err := c.Logoff(ctx); err != nil {
		t.Errorf("logoff: got %v, want no error", err)
	}
	want2 := []string{"Login", "Ping", "CoreStatus", "CoreSettings", "Bogus", "Ping", "Logoff"}
	if got := srv.Actions(); len(got) != len(want2) {
		t.Errorf("actions: got %q, want %q", got, want2)
	}
}

func TestClientSkipsEventsAndStaleResponses(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	srv.SetInterleave(3)
	ctx := ctxFor(t, generous)
	c, err := ami.Dial(ctx, srv.Addr(), "pbxha", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		st, err := c.CoreStatus(ctx, time.UTC)
		if err != nil || st.CurrentCalls != 4 {
			t.Fatalf("corestatus %d: got %+v, %v, want 4 calls", i, st, err)
		}
	}
}

func TestDialFailures(t *testing.T) {
	tests := []struct {
		name      string
		addr      func(*amitest.Server) string
		setup     func(*amitest.Server)
		user      string
		secret    string
		deadline  time.Duration
		wantClass string
		wantAuth  bool
	}{
		{name: "closed port", addr: func(*amitest.Server) string { return testenv.FreeAddr(t) }, wantClass: probe.ClassRefused},
		{name: "silent server", setup: func(s *amitest.Server) { s.SetFault(amitest.FaultSilent) }, deadline: 300 * time.Millisecond, wantClass: probe.ClassTimeout},
		{name: "not an AMI banner", setup: func(s *amitest.Server) { s.SetFault(amitest.FaultBadBanner) }, wantClass: probe.ClassBadResponse},
		{name: "wrong secret", secret: "wrong", wantClass: probe.ClassAuth, wantAuth: true},
		{name: "unknown user", user: "nobody", wantClass: probe.ClassAuth, wantAuth: true},
		{name: "user name is case-insensitive", user: "PBXHA"},
		{name: "slow login within the deadline", setup: func(s *amitest.Server) { s.SetDelay(50 * time.Millisecond) }},
		{name: "rejection slower than the deadline", secret: "wrong", deadline: 300 * time.Millisecond,
			setup: func(s *amitest.Server) { s.SetAuthFailDelay(time.Second) }, wantClass: probe.ClassTimeout},
		{name: "empty user", user: "-", wantClass: probe.ClassConfig},
		{name: "secret with a line break", secret: "x\r\nAction: Originate", wantClass: probe.ClassConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startDouble(t, fixtureStatus)
			if tt.setup != nil {
				tt.setup(srv)
			}
			addr := srv.Addr()
			if tt.addr != nil {
				addr = tt.addr(srv)
			}
			user, secret := "pbxha", "secret"
			if tt.user != "" {
				user = tt.user
			}
			if user == "-" {
				user = ""
			}
			if tt.secret != "" {
				secret = tt.secret
			}
			d := generous
			if tt.deadline > 0 {
				d = tt.deadline
			}
			c, err := ami.Dial(ctxFor(t, d), addr, user, secret)
			if c != nil {
				defer c.Close()
			}
			if got := ami.Class(err); got != tt.wantClass {
				t.Errorf("class: got %q, want %q (err %v)", got, tt.wantClass, err)
			}
			if got := errors.Is(err, ami.ErrAuth); got != tt.wantAuth {
				t.Errorf("errors.Is(err, ErrAuth): got %v, want %v (err %v)", got, tt.wantAuth, err)
			}
		})
	}
}

func TestClientFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     amitest.Fault
		delay     time.Duration
		deadline  time.Duration
		wantClass string
	}{
		{name: "no answer", fault: amitest.FaultHang, deadline: 300 * time.Millisecond, wantClass: probe.ClassTimeout},
		{name: "answer after the deadline", delay: 2 * time.Second, deadline: 300 * time.Millisecond, wantClass: probe.ClassTimeout},
		{name: "garbage", fault: amitest.FaultGarbage, deadline: generous, wantClass: probe.ClassBadResponse},
		{name: "hang-up mid-response", fault: amitest.FaultCloseMidResponse, deadline: generous, wantClass: probe.ClassTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startDouble(t, fixtureStatus)
			c, err := ami.Dial(ctxFor(t, generous), srv.Addr(), "pbxha", "secret")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv.SetFault(tt.fault)
			srv.SetDelay(tt.delay)
			began := time.Now()
			err = c.Ping(ctxFor(t, tt.deadline))
			if got := ami.Class(err); got != tt.wantClass {
				t.Errorf("class: got %q, want %q (err %v)", got, tt.wantClass, err)
			}
			if el := time.Since(began); el > tt.deadline+5*time.Second {
				t.Errorf("returned after %s, want about the deadline %s", el, tt.deadline)
			}
			if c.Usable() {
				t.Errorf("usable after %v: got true, want false", err)
			}
			srv.SetFault(amitest.FaultNone)
			srv.SetDelay(0)
			if err := c.Ping(ctxFor(t, generous)); err == nil {
				t.Errorf("ping on a discarded connection: got no error, want one")
			}
		})
	}
}

func TestClientCancel(t *testing.T) {
	srv := startDouble(t, fixtureStatus)
	c, err := ami.Dial(ctxFor(t, generous), srv.Addr(), "pbxha", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.SetFault(amitest.FaultHang)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Ping(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(generous):
		t.Fatal("ping did not return after cancel")
	}
}
