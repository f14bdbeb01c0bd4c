package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/testenv"
)

// TestPageReleaser: the executable's pages are given back after start and
// again after a role change, not after other events.
func TestPageReleaser(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logger := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	released := func() int {
		b, _ := os.ReadFile(f.Name())
		return strings.Count(string(b), "giving back the executable's pages")
	}
	p := newPageReleaser()
	p.after = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx, logger); close(done) }()
	defer func() { cancel(); <-done }()

	testenv.WaitFor(t, 10*time.Second, "the release after start", func() bool { return released() == 1 })
	p.Publish(event.Event{Kind: event.ProbeState})
	time.Sleep(4 * p.after) // nothing to wait for: a release here would be the bug
	if got := released(); got != 1 {
		t.Fatalf("got %d releases after a probe event, want 1", got)
	}
	p.Publish(event.Event{Kind: event.RoleChange})
	testenv.WaitFor(t, 10*time.Second, "the release after a role change", func() bool { return released() == 2 })
}
