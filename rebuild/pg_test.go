package rebuild_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/test/pgtest"
)

// fillerRows of about 1 KB each make the primary's database about 100 MB.
const fillerRows = 100_000

// lab is a primary with about 100 MB of data, its standby and a
// Rebuilder for the standby.
type lab struct {
	prim, stby *pgtest.Cluster
	r          *rebuild.Rebuilder
	state      string

	mu     sync.Mutex
	events []event.Event
}

func newLab(t *testing.T, maxRate int) *lab {
	t.Helper()
	prim := pgtest.StartPrimary(t, pgtest.Options{})
	prim.Exec(t, fmt.Sprintf("CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, %d) g", fillerRows))
	stby := prim.StartStandby(t)
	l := &lab{prim: prim, stby: stby, state: t.TempDir()}
	bin := pgtest.BinDir(t)
	start := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "start", "-D", stby.DataDir, "-w", "-t", "60",
		"-l", stby.DataDir+".pbxha.log", "-o", "-p "+strconv.Itoa(stby.Port))
	var err error
	l.r, err = rebuild.New(rebuild.Config{
		Node: "n2", DataDir: stby.DataDir, DSN: stby.DSN() + "&connect_timeout=2", StateDir: l.state,
		PrimaryConninfo: "host=127.0.0.1 port=" + strconv.Itoa(prim.Port) + " user=postgres",
		StartCommand:    start, MaxRate: maxRate, BinDir: bin,
	}, rebuild.Options{
		Pair: func() rebuild.Pair {
			return rebuild.Pair{Role: failover.RoleStandby, PeerName: "n1", PeerHost: "127.0.0.1", PeerAlive: true,
				PeerRole: failover.RolePrimary, PeerHealth: probe.Healthy}
		},
		OnEvent: func(e event.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func (l *lab) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Kind)
	}
	return out
}

// waitEnd waits for the rebuild to end and returns its status.
func (l *lab) waitEnd(t *testing.T) *control.Rebuild {
	t.Helper()
	var st *control.Rebuild
	testenv.WaitForReason(t, 4*time.Minute, "the rebuild to end", func() (bool, string) {
		st = l.r.Status()
		if st == nil {
			return false, "no rebuild"
		}
		return st.State != "running", fmt.Sprintf("phase %s, %.0f%%", st.Phase, st.Percent)
	})
	return st
}

// streams reports whether the standby streams from the primary.
func streams(c *pgtest.Cluster) (bool, string) {
	var status string
	if err := c.TryQueryRow("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver LIMIT 1), 'none')", nil, &status); err != nil {
		return false, err.Error()
	}
	return status == "streaming", "wal receiver " + status
}

// TestRebuildBrokenStandby: a standby whose data directory lost its
// control file is cloned anew from a primary holding about 100 MB; it
// ends streaming with every row, the progress reached 100%, and the old
// directory is gone.
func TestRebuildBrokenStandby(t *testing.T) {
	l := newLab(t, 0)
	l.stby.Stop(t)
	if err := os.Remove(filepath.Join(l.stby.DataDir, "global", "pg_control")); err != nil {
		t.Fatal(err)
	}
	if err := l.r.Start(t.Context(), "operator"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := l.r.Start(t.Context(), "operator"); !errors.Is(err, rebuild.ErrRefused) || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("a second Start: got %v, want refused: already runs", err)
	}
	st := l.waitEnd(t)
	if st.State != "finished" || st.Percent != 100 || st.DoneBytes < 90<<20 || st.KeptAside != "" {
		t.Fatalf("got %+v, want finished at 100%% with about 100 MB cloned", st)
	}
	t.Logf("cloned %d MB in %s (%.1f MB/s)", st.DoneBytes>>20, st.FinishedAt.Sub(st.StartedAt).Round(time.Millisecond), st.RateBps/(1<<20))
	testenv.WaitForReason(t, 30*time.Second, "the rebuilt standby streaming", func() (bool, string) { return streams(l.stby) })
	var n int
	l.stby.QueryRow(t, "SELECT count(*) FROM filler", nil, &n)
	if n != fillerRows {
		t.Errorf("got %d rows on the rebuilt standby, want %d", n, fillerRows)
	}
	if left, _ := filepath.Glob(l.stby.DataDir + ".pbxha-old-*"); len(left) > 0 {
		t.Errorf("old data directories left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(l.state, "rebuild.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after a finished rebuild: %v, want none", err)
	}
	if got := strings.Join(l.kinds(), " "); got != "standby_rebuild_started standby_rebuild_finished" {
		t.Errorf("got events %s, want started and finished", got)
	}
}

// TestRebuildMissingStandby: a standby whose data directory is gone is
// cloned anew.
func TestRebuildMissingStandby(t *testing.T) {
	l := newLab(t, 0)
	l.stby.Stop(t)
	if err := os.RemoveAll(l.stby.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := l.r.Start(t.Context(), "operator"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := l.waitEnd(t); st.State != "finished" {
		t.Fatalf("got %+v, want finished", st)
	}
	testenv.WaitForReason(t, 30*time.Second, "the rebuilt standby streaming", func() (bool, string) { return streams(l.stby) })
}

// TestRebuildKilledHalfway: pg_basebackup killed half-way fails the
// rebuild, and the old data directory is back, running and streaming
// again as before.
func TestRebuildKilledHalfway(t *testing.T) {
	l := newLab(t, 16384) // 16 MB/s: about 6 s for the 100 MB
	mark := filepath.Join(l.stby.DataDir, "pbxha-test-old")
	if err := os.WriteFile(mark, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.r.Start(t.Context(), "operator"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	testenv.WaitForReason(t, time.Minute, "the clone a third done", func() (bool, string) {
		st := l.r.Status()
		return st.Phase == "cloning" && st.Percent >= 30, fmt.Sprintf("phase %s, %.0f%%", st.Phase, st.Percent)
	})
	if st := l.r.Status(); st.KeptAside == "" || st.ETASeconds <= 0 || st.RateBps <= 0 {
		t.Errorf("while cloning: got %+v, want the old directory aside, a rate and an ETA", st)
	}
	pid := findProcess(t, "pg_basebackup", l.stby.DataDir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := l.waitEnd(t)
	if st.State != "failed" || st.Phase != "restoring" || st.KeptAside != "" || !strings.Contains(st.Error, "pg_basebackup") {
		t.Fatalf("got %+v, want failed, restored, naming pg_basebackup", st)
	}
	if b, err := os.ReadFile(mark); err != nil || string(b) != "old" {
		t.Fatalf("the old data directory's mark: %q, %v; want it back", b, err)
	}
	testenv.WaitForReason(t, 60*time.Second, "the old standby streaming again", func() (bool, string) { return streams(l.stby) })
	if got := strings.Join(l.kinds(), " "); got != "standby_rebuild_started standby_rebuild_failed" {
		t.Errorf("got events %s, want started and failed", got)
	}
}

// findProcess returns the PID of the process running name with arg on its
// command line.
func findProcess(t *testing.T, name, arg string) int {
	t.Helper()
	var pid int
	testenv.WaitForReason(t, 10*time.Second, name+" running", func() (bool, string) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			args := strings.Split(string(b), "\x00")
			if strings.HasSuffix(args[0], "/"+name) && strings.Contains(string(b), arg) {
				pid = p
				return true, ""
			}
		}
		return false, "none"
	})
	return pid
}
