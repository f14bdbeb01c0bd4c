package esl

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
)

// recoverBody is what mod_sofia answers to "sofia recover" (mod_sofia.c,
// sofia_function) when it recovered calls.
const recoverBody = "Recovered 3 call(s)\n"

func runCommands(t *testing.T, addr, password string, timeout time.Duration, cmds ...string) ([]Reply, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	got := RunCommands(ctx, addr, password, cmds)
	if len(got) != len(cmds) {
		t.Fatalf("got %d replies, want %d", len(got), len(cmds))
	}
	for i, r := range got {
		if r.Command != cmds[i] {
			t.Errorf("reply %d: got command %q, want %q", i, r.Command, cmds[i])
		}
	}
	return got, time.Since(start)
}

func TestRunCommandsInOrder(t *testing.T) {
	s := startServer(t, esltest.Options{Responses: map[string]string{"sofia recover": recoverBody, "reloadxml": "+OK [Success]\n\n"}})
	got, _ := runCommands(t, s.Addr(), esltest.DefaultPassword, 10*time.Second, "sofia recover", "reloadxml")
	for i, want := range []string{recoverBody, "+OK [Success]\n\n"} {
		if got[i].Err != nil || got[i].Body != want {
			t.Errorf("reply %d: got %q, %v; want %q, nil", i, got[i].Body, got[i].Err, want)
		}
	}
	if cmds := s.Commands(); !slices.Equal(cmds, []string{"sofia recover", "reloadxml"}) {
		t.Errorf("server got api commands %q, want sofia recover then reloadxml", cmds)
	}
	if ok, bad := s.Logins(); ok != 1 || bad != 0 || s.Connections() != 1 {
		t.Errorf("got %d connections, %d/%d logins ok/rejected; want one connection, one login", s.Connections(), ok, bad)
	}
}

// TestRunCommandsErrReply: a command answered with -ERR fails with the
// reply, and the next command still runs over the same connection.
func TestRunCommandsErrReply(t *testing.T) {
	s := startServer(t, esltest.Options{Responses: map[string]string{"reloadxml": "+OK [Success]\n\n"}})
	got, _ := runCommands(t, s.Addr(), esltest.DefaultPassword, 10*time.Second, "sofia recover", "reloadxml")
	var ce *CommandError
	if !errors.As(got[0].Err, &ce) || ce.Reply != "-ERR sofia Command not found!" || ce.Command != "sofia recover" {
		t.Errorf("got error %v, want a *CommandError with the -ERR reply", got[0].Err)
	}
	if !strings.HasPrefix(got[0].Body, "-ERR") {
		t.Errorf("got body %q, want the -ERR body", got[0].Body)
	}
	if got[1].Err != nil {
		t.Errorf("second command: got %v, want it sent after the -ERR", got[1].Err)
	}
	if s.Connections() != 1 {
		t.Errorf("got %d connections, want 1: a -ERR reply keeps the connection", s.Connections())
	}
}

// TestRunCommandsWaitsForListener: a FreeSWITCH that starts listening only
// after a while (just started) still gets the commands within the budget.
func TestRunCommandsWaitsForListener(t *testing.T) {
	addr := testenv.FreeAddr(t)
	started := make(chan *esltest.Server, 1)
	go func() {
		time.Sleep(700 * time.Millisecond) // the PBX starting up
		s, err := esltest.Listen(addr, esltest.Options{Responses: map[string]string{"sofia recover": recoverBody}})
		if err != nil {
			t.Error(err)
		}
		started <- s
	}()
	got, _ := runCommands(t, addr, esltest.DefaultPassword, 20*time.Second, "sofia recover")
	s := <-started
	if s == nil {
		return
	}
	defer s.Close()
	if got[0].Err != nil || got[0].Body != recoverBody {
		t.Errorf("got %q, %v; want %q once the listener is up", got[0].Body, got[0].Err, recoverBody)
	}
	if cmds := s.Commands(); !slices.Equal(cmds, []string{"sofia recover"}) {
		t.Errorf("server got %q, want [sofia recover]", cmds)
	}
}

// TestRunCommandsGivesUp: with nothing listening, every command fails as
// not sent once the context ends, and RunCommands returns then.
func TestRunCommandsGivesUp(t *testing.T) {
	got, took := runCommands(t, testenv.FreeAddr(t), esltest.DefaultPassword, 600*time.Millisecond, "sofia recover", "reloadxml")
	for i, r := range got {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "not sent") || !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Errorf("reply %d: got %v, want not sent, deadline exceeded", i, r.Err)
		}
	}
	if took > bound {
		t.Errorf("took %s, want about the 600ms budget (bound %s)", took, bound)
	}
}

// TestRunCommandsWrongPassword: a rejected password is not retried.
func TestRunCommandsWrongPassword(t *testing.T) {
	s := startServer(t, esltest.Options{})
	got, took := runCommands(t, s.Addr(), "wrong", 20*time.Second, "sofia recover")
	if !errors.Is(got[0].Err, ErrAuth) {
		t.Errorf("got %v, want ErrAuth", got[0].Err)
	}
	if _, bad := s.Logins(); bad != 1 || took > bound {
		t.Errorf("got %d rejected logins in %s, want 1 and no retry until the 20s budget", bad, took)
	}
}

// TestRunCommandsRedialsAfterDisconnect: a command whose connection drops is
// not sent again; the next one goes over a new connection.
func TestRunCommandsRedialsAfterDisconnect(t *testing.T) {
	s := startServer(t, esltest.Options{Fault: esltest.FaultDisconnectOnCommand})
	got, _ := runCommands(t, s.Addr(), esltest.DefaultPassword, 10*time.Second, "sofia recover", "reloadxml")
	for i, r := range got {
		if !errors.Is(r.Err, ErrDisconnected) {
			t.Errorf("reply %d: got %v, want ErrDisconnected", i, r.Err)
		}
	}
	if cmds := s.Commands(); !slices.Equal(cmds, []string{"sofia recover", "reloadxml"}) {
		t.Errorf("server got %q, want each command once", cmds)
	}
	if s.Connections() != 2 {
		t.Errorf("got %d connections, want 2 (one per command after the disconnect)", s.Connections())
	}
}
