package act

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/event"
)

// eventRecorder keeps the events an ESLCommands emits.
type eventRecorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *eventRecorder) emit(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *eventRecorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func startESL(t *testing.T, opts esltest.Options) *esltest.Server {
	t.Helper()
	s, err := esltest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestESLCommandsSend covers the takeover's PBX command step against an
// ESL double: every command answered, or a -ERR reply that is logged with
// the command and reply and raises one takeover_step_failed event.
func TestESLCommandsSend(t *testing.T) {
	tests := []struct {
		name      string
		responses map[string]string
		wantLog   []string // substrings of the log
		wantEvent string   // substring of the event's summary; empty: no event
	}{
		{
			name:      "answered",
			responses: map[string]string{"sofia recover": "Recovered 2 call(s)\n", "reloadxml": "+OK [Success]\n"},
			wantLog:   []string{`msg="takeover: PBX command sent" component=takeover_esl epoch=7`, `command="sofia recover" reply="Recovered 2 call(s)"`},
		},
		{
			name:      "ERR reply",
			responses: map[string]string{"reloadxml": "+OK [Success]\n"},
			wantLog: []string{`level=WARN msg="takeover: PBX command failed; the takeover goes on"`,
				`command="sofia recover" reply="-ERR sofia Command not found!"`},
			wantEvent: "node-b: takeover at epoch 7 went on, but 1 of 2 PBX command(s) failed: esl: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startESL(t, esltest.Options{Password: "s3cret", Responses: tt.responses})
			var logs bytes.Buffer
			var rec eventRecorder
			c := &ESLCommands{Node: "node-b", Addr: s.Addr(), Password: "s3cret", Commands: []string{"sofia recover", "reloadxml"},
				Timeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)).With("component", "takeover_esl"), OnEvent: rec.emit}
			c.Send(context.Background(), 7)
			if got := s.Commands(); !slices.Equal(got, []string{"sofia recover", "reloadxml"}) {
				t.Errorf("double got %q, want sofia recover then reloadxml", got)
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			evs := rec.all()
			if tt.wantEvent == "" {
				if len(evs) != 0 {
					t.Errorf("got events %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			e := evs[0]
			if e.Kind != event.TakeoverStepFailed || e.Severity != event.Warning || !strings.Contains(e.Summary, tt.wantEvent) ||
				!strings.Contains(e.Summary, "api sofia recover: -ERR sofia Command not found!") {
				t.Errorf("got event %s/%s %q, want takeover_step_failed/warning containing %q and the reply", e.Kind, e.Severity, e.Summary, tt.wantEvent)
			}
			if got := e.Details["sent"]; !slices.Equal(got.([]string), []string{"reloadxml"}) {
				t.Errorf("details sent: got %v, want [reloadxml]", got)
			}
		})
	}
}

// TestESLCommandsUnreachable: no event socket within the timeout is one
// event naming every command as not sent, and Send returns by the timeout.
func TestESLCommandsUnreachable(t *testing.T) {
	s := startESL(t, esltest.Options{})
	addr := s.Addr()
	s.Close()
	var rec eventRecorder
	c := &ESLCommands{Node: "node-b", Addr: addr, Password: "ClueCon", Commands: []string{"sofia recover"},
		Timeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), OnEvent: rec.emit}
	start := time.Now()
	c.Send(context.Background(), 3)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Send took %s, want about the 500ms timeout", took)
	}
	evs := rec.all()
	if len(evs) != 1 || !strings.Contains(evs[0].Summary, "api sofia recover: not sent") {
		t.Errorf("got events %+v, want one saying sofia recover was not sent", evs)
	}
}
