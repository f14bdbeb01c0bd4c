package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// syncBuffer is written by the follower and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestEventsCommand(t *testing.T) {
	clearPBXHAEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+dir+"\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l, err := event.OpenLog(filepath.Join(dir, event.LogName), event.Retention{Keep: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Written out of time order, as two goroutines may stamp and queue them.
	for _, e := range []event.Event{
		{ID: "2", Kind: event.Failover, Severity: event.Critical, Time: now.Add(-time.Minute), Summary: "node-b took over"},
		{ID: "1", Kind: event.ProbeState, Severity: event.Warning, Time: now.Add(-2 * time.Minute), Summary: "probe sip ok → failed"},
		{ID: "3", Kind: event.ConfigReload, Severity: event.Info, Time: now.Add(-30 * time.Second), Summary: "config reloaded"},
	} {
		l.Publish(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
		code int
	}{
		{"all in time order", nil, []string{"probe sip ok → failed", "node-b took over", "config reloaded"}, exitOK},
		{"by kind", []string{"--kind", "failover,config_reload"}, []string{"node-b took over", "config reloaded"}, exitOK},
		{"by severity", []string{"--severity", "warning"}, []string{"probe sip ok → failed", "node-b took over"}, exitOK},
		{"since", []string{"--since", "45s"}, []string{"config reloaded"}, exitOK},
		{"unknown kind", []string{"--kind", "explosion"}, nil, exitUsage},
		{"unknown severity", []string{"--severity", "loud"}, nil, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(append([]string{"-c", cfg, "events"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d (%s), want %d", code, errOut, tc.code)
			}
			var got []string
			for _, line := range strings.Split(out, "\n") {
				for _, w := range tc.want {
					if strings.HasSuffix(line, w) {
						got = append(got, w)
					}
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q in that order\n%s", got, tc.want, out)
			}
		})
	}

	// --follow: the kept events, then one appended later.
	ctx, cancel := context.WithCancel(t.Context())
	buf := &syncBuffer{}
	done := make(chan error, 1)
	f, _ := eventFilter(0, nil, "warning")
	go func() { done <- followEvents(ctx, filepath.Join(dir, event.LogName), f, event.NewWriter(buf, true)) }()
	testenv.WaitFor(t, 5*time.Second, "the kept warnings", func() bool { return strings.Count(buf.String(), "\n") == 2 })
	l, err = event.OpenLog(filepath.Join(dir, event.LogName), event.Retention{Keep: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Publish(event.Event{ID: "4", Kind: event.SplitBrain, Severity: event.Critical, Time: time.Now(), Summary: "two primaries met"})
	l.Publish(event.Event{ID: "5", Kind: event.ConfigReload, Severity: event.Info, Time: time.Now(), Summary: "filtered out"})
	testenv.WaitFor(t, 5*time.Second, "the new split_brain", func() bool { return strings.Contains(buf.String(), "two primaries met") })
	l.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "filtered out") {
		t.Errorf("follow printed an info event past --severity warning:\n%s", buf.String())
	}
}
