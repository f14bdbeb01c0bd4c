package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/event"
)

// eventRecorder keeps the events a pbxCommands emits.
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

func takeoverESLConfig(addr, password, passwordFile string, cmds ...string) *configs.Config {
	return &configs.Config{
		Source: "pbxha.yaml", Node: configs.Node{Name: "node-b"},
		Probes: configs.Probes{ESL: []configs.ESLProbe{{Address: addr, Password: password, PasswordFile: passwordFile}}},
		PBX:    configs.PBX{TakeoverESL: cmds, TakeoverESLTimeout: 10 * time.Second},
	}
}

// TestPBXCommandsSend covers the takeover's PBX command step against an ESL
// double: every command answered, or a -ERR reply that is logged with the
// command and reply and raises one takeover_step_failed event.
func TestPBXCommandsSend(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "esl.password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
			pc, err := newPBXCommands(takeoverESLConfig(s.Addr(), "", pwFile, "sofia recover", "reloadxml"),
				slog.New(slog.NewTextHandler(&logs, nil)), rec.emit)
			if err != nil {
				t.Fatal(err)
			}
			pc.send(context.Background(), 7)
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

// TestPBXCommandsUnreachable: no event socket within the timeout is one
// event naming every command as not sent, and send returns by the timeout.
func TestPBXCommandsUnreachable(t *testing.T) {
	s := startESL(t, esltest.Options{})
	addr := s.Addr()
	s.Close()
	cfg := takeoverESLConfig(addr, "ClueCon", "", "sofia recover")
	cfg.PBX.TakeoverESLTimeout = 500 * time.Millisecond
	var rec eventRecorder
	pc, err := newPBXCommands(cfg, slog.New(slog.DiscardHandler), rec.emit)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pc.send(context.Background(), 3)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("send took %s, want about the 500ms timeout", took)
	}
	evs := rec.all()
	if len(evs) != 1 || !strings.Contains(evs[0].Summary, "api sofia recover: not sent") {
		t.Errorf("got events %+v, want one saying sofia recover was not sent", evs)
	}
}

func TestNewPBXCommands(t *testing.T) {
	if pc, err := newPBXCommands(takeoverESLConfig("127.0.0.1:8021", "x", ""), slog.New(slog.DiscardHandler), nil); pc != nil || err != nil {
		t.Errorf("no commands: got %v, %v; want nil, nil", pc, err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := newPBXCommands(takeoverESLConfig("127.0.0.1:8021", "", missing, "sofia recover"), slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "pbxha.yaml: probes.esl[0].password_file: ") {
		t.Errorf("got %v, want the config file and key of the unreadable password file", err)
	}
}
