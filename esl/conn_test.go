package esl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
)

// bound is the generous limit within which an operation with a short
// deadline must have returned, even on a loaded two-core machine.
const bound = 3 * time.Second

func startServer(t testing.TB, opts esltest.Options) *esltest.Server {
	t.Helper()
	if opts.Responses == nil {
		opts.Responses = map[string]string{
			"status":           fixture(t, "status-1.10.txt"),
			"sofia status":     fixture(t, "sofia-status-1.10.txt"),
			"show calls count": fixture(t, "calls-count.txt"),
		}
	}
	s, err := esltest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialOK(t testing.TB, s *esltest.Server) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	c, err := Dial(ctx, s.Addr(), esltest.DefaultPassword)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDialEndsByDeadline covers eslgo's Dial defects: it blocked forever on a
// silent, closing or rejecting server and took 5 s over a wrong password.
func TestDialEndsByDeadline(t *testing.T) {
	tests := []struct {
		name      string
		fault     esltest.Fault
		password  string
		timeout   time.Duration
		wantErr   error // nil: only the class is checked
		wantClass string
	}{
		{name: "silent server", fault: esltest.FaultSilent, timeout: 300 * time.Millisecond, wantErr: context.DeadlineExceeded, wantClass: probe.ClassTimeout},
		{name: "close after accept", fault: esltest.FaultCloseOnAccept, timeout: 10 * time.Second, wantClass: probe.ClassTransport},
		{name: "rude rejection", fault: esltest.FaultRudeRejection, timeout: 10 * time.Second, wantErr: ErrRejected, wantClass: probe.ClassAuth},
		{name: "wrong password", password: "wrong", timeout: 10 * time.Second, wantErr: ErrAuth, wantClass: probe.ClassAuth},
		{name: "right password", password: esltest.DefaultPassword, timeout: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, esltest.Options{Fault: tt.fault})
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			pw := tt.password
			if pw == "" {
				pw = esltest.DefaultPassword
			}
			start := time.Now()
			c, err := Dial(ctx, s.Addr(), pw)
			if el := time.Since(start); el > min(tt.timeout, bound)+bound {
				t.Errorf("got return after %s, want within %s", el, min(tt.timeout, bound)+bound)
			}
			if tt.wantClass == "" {
				if err != nil {
					t.Fatalf("got err %v, want none", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("got a connection, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got err %v, want %v", err, tt.wantErr)
			}
			if got := classify(err); got != tt.wantClass {
				t.Errorf("got class %q (%v), want %q", got, err, tt.wantClass)
			}
		})
	}
}

// TestDialWrongPasswordIsQuick: eslgo waited out a 5 s exit timeout after
// "-ERR invalid"; here the rejection returns as soon as it is read.
func TestDialWrongPasswordIsQuick(t *testing.T) {
	s := startServer(t, esltest.Options{Password: "secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, s.Addr(), "ClueCon")
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
	if el := time.Since(start); el > bound {
		t.Errorf("got %s, want well under eslgo's 5 s (bound %s)", el, bound)
	}
	if ok, bad := s.Logins(); ok != 0 || bad != 1 {
		t.Errorf("got logins ok=%d rejected=%d, want 0 and 1", ok, bad)
	}
}

func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	_, err := Dial(ctx, testenv.FreeAddr(t), "ClueCon")
	if got := classify(err); got != probe.ClassRefused {
		t.Errorf("got class %q (%v), want %q", got, err, probe.ClassRefused)
	}
}

func TestDialRejectsPasswordWithLineBreak(t *testing.T) {
	s := startServer(t, esltest.Options{})
	_, err := Dial(context.Background(), s.Addr(), "ClueCon\n\napi fsctl shutdown")
	if err == nil {
		t.Fatal("got a connection, want an error")
	}
	if n := s.Connections(); n != 0 {
		t.Errorf("got %d connections, want 0", n)
	}
}

// TestAPIFaults: every misbehaviour after login ends by the deadline with the
// right class, and the connection is discarded afterwards.
func TestAPIFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     esltest.Fault
		wantErr   error
		wantClass string
	}{
		{name: "no reply", fault: esltest.FaultSilentReply, wantErr: context.DeadlineExceeded, wantClass: probe.ClassTimeout},
		{name: "truncated frame then close", fault: esltest.FaultTruncatedReply, wantErr: ErrMalformed, wantClass: probe.ClassBadResponse},
		{name: "truncated frame then silence", fault: esltest.FaultTruncatedHang, wantErr: context.DeadlineExceeded, wantClass: probe.ClassTimeout},
		{name: "garbage bytes", fault: esltest.FaultGarbageReply, wantErr: ErrMalformed, wantClass: probe.ClassBadResponse},
		{name: "wrong frame type", fault: esltest.FaultWrongTypeReply, wantErr: ErrUnexpected, wantClass: probe.ClassBadResponse},
		{name: "disconnect notice mid-session", fault: esltest.FaultDisconnectOnCommand, wantErr: ErrDisconnected, wantClass: probe.ClassTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, esltest.Options{})
			c := dialOK(t, s)
			s.SetFault(tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := c.API(ctx, "status")
			if el := time.Since(start); el > bound {
				t.Errorf("got return after %s, want within %s", el, bound)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got err %v, want %v", err, tt.wantErr)
			}
			if got := classify(err); got != tt.wantClass {
				t.Errorf("got class %q, want %q", got, tt.wantClass)
			}
			s.SetFault(esltest.FaultNone)
			if _, err := c.API(context.Background(), "status"); !errors.Is(err, ErrClosed) {
				t.Errorf("next command on the same connection: got %v, want ErrClosed", err)
			}
		})
	}
}

// TestLateReplyIsNotHandedToNextCommand: eslgo delivered a late "status"
// body as the answer to the next command. Here the connection is discarded
// at the timeout, so the late bytes are never read.
func TestLateReplyIsNotHandedToNextCommand(t *testing.T) {
	s := startServer(t, esltest.Options{Delays: map[string]time.Duration{"status": 600 * time.Millisecond}})
	c := dialOK(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.API(ctx, "status"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow status: got %v, want deadline exceeded", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), bound)
	defer cancel2()
	body, err := c.API(ctx2, "sofia status")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("next command: got body %.40q err %v, want ErrClosed", body, err)
	}
	// A new connection answers each command with its own body.
	c2 := dialOK(t, s)
	s.SetDelay("status", 0)
	body, err = c2.API(ctx2, "sofia status")
	if err != nil || body != fixture(t, "sofia-status-1.10.txt") {
		t.Errorf("fresh connection: got %.40q %v, want the sofia status fixture", body, err)
	}
}

// TestSlowReplyWithinDeadline: a reply that is slow but in time is accepted.
func TestSlowReplyWithinDeadline(t *testing.T) {
	s := startServer(t, esltest.Options{Delays: map[string]time.Duration{"status": 50 * time.Millisecond}})
	c := dialOK(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := c.API(ctx, "status")
	if err != nil || body != fixture(t, "status-1.10.txt") {
		t.Errorf("got %.40q %v, want the status fixture", body, err)
	}
}

// TestDeadlineDoesNotStick: eslgo kept the write deadline of one call, so a
// later call without a deadline failed with i/o timeout.
func TestDeadlineDoesNotStick(t *testing.T) {
	s := startServer(t, esltest.Options{})
	c := dialOK(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.API(ctx, "status"); err != nil {
		t.Fatalf("first command: %v", err)
	}
	<-ctx.Done() // the first command's deadline is now in the past
	if _, err := c.API(context.Background(), "status"); err != nil {
		t.Errorf("command without deadline after an expired one: got %v, want none", err)
	}
}

func TestCancelEndsCommand(t *testing.T) {
	s := startServer(t, esltest.Options{Fault: esltest.FaultNone})
	c := dialOK(t, s)
	s.SetFault(esltest.FaultSilentReply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.API(ctx, "status")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(bound):
		t.Fatal("API did not return after cancel")
	}
}

func TestCommandErrorKeepsConnection(t *testing.T) {
	s := startServer(t, esltest.Options{})
	c := dialOK(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	body, err := c.API(ctx, "nosuch thing")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Reply != "-ERR nosuch Command not found!" {
		t.Fatalf("got %q %v, want a CommandError", body, err)
	}
	if _, err := c.API(ctx, "status"); err != nil {
		t.Errorf("after a command error: got %v, want the connection still usable", err)
	}
	if got, want := fmt.Sprint(s.Commands()), "[nosuch thing status]"; got != want {
		t.Errorf("got commands %s, want %s", got, want)
	}
}

// TestConcurrentCommands: commands from many goroutines on one connection
// each get their own answer.
func TestConcurrentCommands(t *testing.T) {
	s := startServer(t, esltest.Options{})
	c := dialOK(t, s)
	want := map[string]string{
		"status":           fixture(t, "status-1.10.txt"),
		"sofia status":     fixture(t, "sofia-status-1.10.txt"),
		"show calls count": fixture(t, "calls-count.txt"),
	}
	cmds := []string{"status", "sofia status", "show calls count"}
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				cmd := cmds[(g+i)%len(cmds)]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				body, err := c.API(ctx, cmd)
				cancel()
				if err != nil || body != want[cmd] {
					errs <- fmt.Errorf("%s: got %.30q %v", cmd, body, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseDuringCommand: Close does not wait for a hung command, and the
// command returns promptly.
func TestCloseDuringCommand(t *testing.T) {
	s := startServer(t, esltest.Options{})
	c := dialOK(t, s)
	s.SetFault(esltest.FaultSilentReply)
	done := make(chan error, 1)
	go func() {
		_, err := c.API(context.Background(), "status")
		done <- err
	}()
	// Wait until the command reached the server, so Close meets it in flight.
	_ = testenv.Poll(bound, func() (bool, string) { return len(s.Commands()) > 0, "" })
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("got success from a command on a closed connection")
		}
	case <-time.After(bound):
		t.Fatal("command did not return after Close")
	}
	if _, err := c.API(context.Background(), "status"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
}
