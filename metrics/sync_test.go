package metrics

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/probe"
)

// TestSyncMetrics: per-directory sync metrics and the rebuild's progress
// come from the status at scrape time.
func TestSyncMetrics(t *testing.T) {
	m := New(func() probe.Health { return probe.Healthy })
	ok := time.Unix(1_800_000_000, 0)
	var rb *control.Rebuild
	m.SyncFuncs(func() control.Sync {
		return control.Sync{Direction: "pull", Directories: []control.SyncDir{
			{Name: "rec", LastSuccess: &ok, AgeSeconds: 42, Lagging: true, TotalFiles: 3, TotalBytes: 4096, RateBps: 1024, Runs: 5, Failures: 2},
			{Name: "vm"},
		}}
	}, func() *control.Rebuild { return rb })
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/metrics"

	_, body := scrape(t, url)
	for _, want := range []string{
		`pbxha_sync_pulling 1`, `pbxha_sync_last_success_timestamp_seconds{dir="rec"} 1.8e+09`, `pbxha_sync_age_seconds{dir="rec"} 42`,
		`pbxha_sync_lagging{dir="rec"} 1`, `pbxha_sync_files_total{dir="rec"} 3`, `pbxha_sync_bytes_total{dir="rec"} 4096`,
		`pbxha_sync_rate_bytes_per_second{dir="rec"} 1024`, `pbxha_sync_failures_total{dir="rec"} 2`, `pbxha_sync_lagging{dir="vm"} 0`,
		`pbxha_standby_rebuild_running 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `pbxha_sync_age_seconds{dir="vm"}`) || strings.Contains(body, "pbxha_standby_rebuild_progress_ratio") {
		t.Error("metrics for a never-synced directory's age or a rebuild that never ran")
	}
	rb = &control.Rebuild{State: "running", Percent: 25, DoneBytes: 100, TotalBytes: 400}
	_, body = scrape(t, url)
	for _, want := range []string{`pbxha_standby_rebuild_running 1`, `pbxha_standby_rebuild_progress_ratio 0.25`,
		`pbxha_standby_rebuild_bytes_done 100`, `pbxha_standby_rebuild_bytes_total 400`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}
