package control

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWriteTextSyncAndRebuild: the sync and rebuild lines of pbxha status.
func TestWriteTextSyncAndRebuild(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	synced := now.Add(-42 * time.Second)
	st := Status{Now: now, StartedAt: now.Add(-time.Hour),
		Sync: &Sync{Direction: "pull", Reason: "pulling from node-a", Peer: "10.1.1.1:8873", Directories: []SyncDir{
			{Name: "recordings", State: "ok", LastSuccess: &synced, LastFiles: 3, LastBytes: 1258291, RateBps: 901120},
			{Name: "voicemail", State: "refused", Lagging: true, LastError: "refused by the source: empty\nmore"},
		}},
		Rebuild: &Rebuild{State: "running", Phase: "cloning", Reason: "operator", From: "node-a", Percent: 25,
			DoneBytes: 25 << 20, TotalBytes: 100 << 20, RateBps: 10 << 20, ETASeconds: 7.5},
	}
	var b bytes.Buffer
	WriteText(&b, st)
	for _, want := range []string{
		"sync pull  peer 10.1.1.1:8873  pulling from node-a\n",
		"  recordings  ok  synced 42s ago (3 files, 1.2 MiB at 880.0 KiB/s)\n",
		"  voicemail  refused  never synced  LAGGING  last error: refused by the source: empty\n",
		"standby rebuild running from node-a (operator)  cloning  25%  25.0 MiB of 100.0 MiB at 10.0 MiB/s  ETA 8s\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, b.String())
		}
	}
}
