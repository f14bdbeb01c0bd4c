package rebuild_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/pbxha/pbxha/test/pgtest"
)

func TestParseProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want rebuild.Progress
		ok   bool
	}{
		{"plain", "  12345/105000 kB (11%), 0/1 tablespace", rebuild.Progress{DoneKB: 12345, TotalKB: 105000, Percent: 11}, true},
		{"verbose", "105000/105000 kB (100%), 1/1 tablespace (...data/base/5/16384)", rebuild.Progress{DoneKB: 105000, TotalKB: 105000, Percent: 100}, true},
		{"waiting", "pg_basebackup: initiating base backup, waiting for checkpoint to complete", rebuild.Progress{}, false},
		{"error", "pg_basebackup: error: connection to server failed", rebuild.Progress{}, false},
		{"huge", "99999999999999999999/1 kB (1%)", rebuild.Progress{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rebuild.ParseProgress(tc.line)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add("  12345/105000 kB (11%), 0/1 tablespace")
	f.Add("0/0 kB (0%)")
	f.Add("1/2 kB (999%)")
	f.Fuzz(func(t *testing.T, s string) {
		if p, ok := rebuild.ParseProgress(s); ok && (p.DoneKB < 0 || p.TotalKB < 0 || p.Percent < 0 || p.Percent > 999) {
			t.Errorf("got %+v from %q", p, s)
		}
	})
}

// TestStartRefuses: nothing is changed when the node is the primary, or
// the peer is not a live healthy primary.
func TestStartRefuses(t *testing.T) {
	bin := pgtest.BinDir(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	good := rebuild.Pair{Role: failover.RoleStandby, PeerName: "n1", PeerHost: "127.0.0.1", PeerAlive: true, PeerRole: failover.RolePrimary, PeerHealth: probe.Healthy}
	for _, tc := range []struct {
		name string
		pair func(*rebuild.Pair)
		want string
	}{
		{"on the primary", func(p *rebuild.Pair) { p.Role = failover.RolePrimary }, "this node is the primary"},
		{"peer dead", func(p *rebuild.Pair) { p.PeerAlive = false }, "n1 is not heard"},
		{"peer standby", func(p *rebuild.Pair) { p.PeerRole = failover.RoleStandby }, "n1 is standby, not primary"},
		{"peer failed", func(p *rebuild.Pair) { p.PeerHealth = probe.HealthFailed }, "not healthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.pair(&p)
			var events []event.Event
			r, err := rebuild.New(rebuild.Config{DataDir: dir, DSN: "host=127.0.0.1 port=1 connect_timeout=1", StateDir: t.TempDir(),
				StartCommand: []string{"true"}, BinDir: bin},
				rebuild.Options{Pair: func() rebuild.Pair { return p }, OnEvent: func(e event.Event) { events = append(events, e) }})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Start(t.Context(), "operator")
			if !errors.Is(err, rebuild.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want refused: %s", err, tc.want)
			}
			if r.Status() != nil || len(events) > 0 || r.Running() {
				t.Errorf("a refused rebuild left status %+v, events %v", r.Status(), events)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Errorf("data directory after a refusal: %v", err)
			}
		})
	}
}

// TestRecoverPutsOldDirectoryBack: a rebuild cut short by pbxha's death
// (its journal left, the old directory aside, a half-cloned new one) is
// undone at the next start.
func TestRecoverPutsOldDirectoryBack(t *testing.T) {
	bin := pgtest.BinDir(t)
	root, state := t.TempDir(), t.TempDir()
	dir := filepath.Join(root, "data")
	aside := dir + ".pbxha-old-1"
	for _, d := range []string{dir, aside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(aside, "PG_VERSION"), []byte("old"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "half"), []byte("new"), 0o600)
	if os.Geteuid() == 0 {
		// The tools run as the data directory's owner, never root.
		for _, p := range []string{root, dir, aside} {
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
	journal := `{"data_dir":"` + dir + `","aside":"` + aside + `","was_running":false,"started":"2026-03-01T12:00:00Z"}`
	if err := os.WriteFile(filepath.Join(state, "rebuild.json"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	var events []event.Event
	r, err := rebuild.New(rebuild.Config{DataDir: dir, DSN: "host=127.0.0.1 port=1", StateDir: state, StartCommand: []string{"false"}, BinDir: bin},
		rebuild.Options{Pair: func() rebuild.Pair { return rebuild.Pair{} }, OnEvent: func(e event.Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION")); err != nil || string(b) != "old" {
		t.Errorf("data directory after Recover: %q, %v; want the old one back", b, err)
	}
	if _, err := os.Stat(aside); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("aside directory after Recover: %v, want gone", err)
	}
	if _, err := os.Stat(filepath.Join(state, "rebuild.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after Recover: %v, want gone", err)
	}
	if len(events) != 1 || events[0].Kind != event.RebuildFailed || events[0].Details["restored"] != true {
		t.Errorf("got events %+v, want one standby_rebuild_failed, restored", events)
	}
	if st := r.Status(); st == nil || st.State != "failed" || st.FinishedAt == nil || st.FinishedAt.Before(time.Now().Add(-time.Minute)) {
		t.Errorf("status after Recover: %+v, want failed", st)
	}
	// Nothing to do the second time.
	if err := r.Recover(t.Context()); err != nil || len(events) != 1 {
		t.Errorf("second Recover: %v, %d events; want nothing done", err, len(events))
	}
}
