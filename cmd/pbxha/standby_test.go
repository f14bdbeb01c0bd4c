package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
)

// fakeRebuild is a daemon whose rebuild advances a step at every status
// read, then finishes or fails.
type fakeRebuild struct {
	mu    sync.Mutex
	reads int
	fail  bool
	st    *control.Rebuild
}

func (f *fakeRebuild) status() control.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st == nil {
		return control.Status{}
	}
	f.reads++
	st := *f.st
	switch {
	case f.reads < 5:
		st.Phase, st.DoneBytes, st.TotalBytes = "cloning", int64(f.reads)<<20, 4<<20
	case f.fail:
		st.State, st.Phase, st.Error = "failed", "cloning", "pg_basebackup: signal: killed"
	default:
		t := st.StartedAt.Add(3 * time.Second)
		st.State, st.Phase, st.DoneBytes, st.TotalBytes, st.FinishedAt = "finished", "done", 4<<20, 4<<20, &t
	}
	return control.Status{Rebuild: &st}
}

func serveFake(t *testing.T, api control.API) *control.Client {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, ln, control.NewHandler(api), slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done })
	return control.NewClient(path)
}

// TestRunRebuild: the command follows the daemon's rebuild to its end,
// drawing a progress bar, and reports a refusal or a failure with exit 1.
func TestRunRebuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  bool
		fail    bool
		wantOut string
		wantErr string
	}{
		{"finished", false, false, "standby rebuilt from node-a in 3s (4 MB): streaming", ""},
		{"failed", false, true, "", "standby rebuild failed while cloning: pg_basebackup: signal: killed; the old data directory was put back"},
		{"refused", true, false, "", "standby rebuild refused: rebuild: this node is the primary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRebuild{fail: tc.fail}
			c := serveFake(t, control.API{Status: f.status, Rebuild: func(context.Context) error {
				if tc.refuse {
					return fmt.Errorf("rebuild: this node is the primary: %w", control.ErrRefused)
				}
				f.mu.Lock()
				f.st = &control.Rebuild{State: "running", Phase: "stopping", From: "node-a", StartedAt: time.Now()}
				f.mu.Unlock()
				return nil
			}})
			var out, errOut bytes.Buffer
			err := runRebuild(t.Context(), &out, &errOut, c, false, 10*time.Millisecond)
			var ee *exitError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.wantErr != "" && (!errors.As(err, &ee) || ee.code != exitFailure || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want exit 1 saying %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("got output %q, want %q", out.String(), tc.wantOut)
			}
			if !tc.refuse && !strings.Contains(errOut.String(), "cloning") {
				t.Errorf("got progress %q, want a bar describing the phase", errOut.String())
			}
		})
	}
}
