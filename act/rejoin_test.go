package act

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
)

// TestRejoinFailureRaisesEvent runs a background rejoin against a server
// that is not running (a closed port: the database stopped by the release)
// with a demote command that fails after a while: wait blocks until it
// ends, and the failure is raised as db_rejoin_failed naming the role the
// server was left in and the command's error.
func TestRejoinFailureRaisesEvent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	db, err := dbrole.New(dbrole.Config{
		DSN:           "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=postgres dbname=postgres connect_timeout=2",
		DemoteCommand: []string{"sh", "-c", `sleep 0.3; echo "pg-demote: rewind failed ($PBXHA_ACTION)" >&2; exit 4`},
		StopCommand:   []string{"true"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan event.Event, 4)
	rebuilds := make(chan error, 1)
	r := &rejoin{db: db, node: "n1", clock: clock.Real, log: slog.New(slog.DiscardHandler), emit: func(e event.Event) { events <- e },
		onFailed: func(err error) { rebuilds <- err }}
	if err := r.wait(context.Background()); err != nil {
		t.Fatalf("wait with no rejoin: got %v, want nil", err)
	}
	r.start(dbrole.DemoteArgs{Node: "n1", PeerHost: "192.0.2.7"})

	// The command sleeps 300 ms first: the rejoin is still running.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait while the rejoin runs: got %v, want the context's deadline", err)
	}
	long, cancelLong := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLong()
	if err := r.wait(long); err != nil {
		t.Fatalf("wait: got %v, want nil once the rejoin ended", err)
	}
	select {
	case e := <-events:
		if e.Kind != event.DBRejoinFailed || e.Severity != event.Critical {
			t.Fatalf("event: got %s (%s), want db_rejoin_failed (critical)", e.Kind, e.Severity)
		}
		if got := e.Details["role"]; got != "stopped" {
			t.Errorf("details role: got %v, want stopped", got)
		}
		msg, _ := e.Details["error"].(string)
		for _, want := range []string{"exit status 4", "rewind failed (rejoin)", "the server is stopped, not a standby"} {
			if !strings.Contains(msg, want) {
				t.Errorf("details error: got %q, want it to contain %q", msg, want)
			}
		}
		if !strings.Contains(e.Summary, "192.0.2.7") || !strings.Contains(e.Summary, "a standby rebuild starts") {
			t.Errorf("summary: got %q, want it to name the new primary and the rebuild that follows", e.Summary)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no db_rejoin_failed event")
	}
	// database.rebuild_on_rewind_failure: the failure starts a rebuild.
	select {
	case err := <-rebuilds:
		if !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("rebuild started for %v, want the rejoin's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed rejoin did not call onFailed (the rebuild)")
	}
}
