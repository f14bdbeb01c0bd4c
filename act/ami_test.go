package act

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami/amitest"
	"github.com/pbxha/pbxha/event"
)

// TestAMICommandsSend covers pbx.takeover_ami against the AMI double, which
// answers Action: Command as Asterisk 13+ does: commands run in order as the
// probe's user; a command the CLI does not know is logged with its output,
// the rest still run, and one takeover_step_failed event tells the operator.
func TestAMICommandsSend(t *testing.T) {
	srv, err := amitest.Start(amitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		name      string
		cmds      []string
		wantEvent string
	}{
		{"answered", []string{"pjsip send register *all", "core reload"}, ""},
		{"one unknown", []string{"no such thing", "pjsip send register *all"}, "1 of 2 PBX command(s) failed: ami: command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Commands())
			var logs bytes.Buffer
			rec := &eventRecorder{}
			c := &AMICommands{Node: "node-b", Addr: srv.Addr(), Username: "pbxha", Secret: "secret", Commands: tc.cmds,
				Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnEvent: rec.emit}
			c.Send(context.Background(), 7)
			if got := srv.Commands()[before:]; !slices.Equal(got, tc.cmds) {
				t.Errorf("Asterisk ran %q, want %q in order", got, tc.cmds)
			}
			evs := rec.all()
			switch {
			case tc.wantEvent == "" && len(evs) != 0:
				t.Errorf("got events %+v, want none", evs)
			case tc.wantEvent != "" && (len(evs) != 1 || evs[0].Kind != event.TakeoverStepFailed || !strings.Contains(evs[0].Summary, tc.wantEvent)):
				t.Errorf("got events %+v, want one takeover_step_failed with %q", evs, tc.wantEvent)
			}
			if !strings.Contains(logs.String(), `reply="ran pjsip send register *all"`) {
				t.Errorf("log lacks the command's output:\n%s", logs.String())
			}
		})
	}
	// Asterisk not up: the commands are not sent, within the timeout.
	c := &AMICommands{Node: "node-b", Addr: "127.0.0.1:1", Username: "pbxha", Secret: "secret", Commands: []string{"core reload"},
		Timeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), OnEvent: (&eventRecorder{}).emit}
	start := time.Now()
	c.Send(context.Background(), 8)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send with no Asterisk took %s, want about the 500ms timeout", d)
	}
}
