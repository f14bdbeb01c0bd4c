package probe_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/pgtest"
)

// fakeClock is the injected clock that decides when a fresh connection is due.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newPG(t *testing.T, cfg probe.PGConfig) *probe.PG {
	t.Helper()
	p, err := probe.NewPG(cfg, nil)
	if err != nil {
		t.Fatalf("NewPG: got %v, want nil", err)
	}
	t.Cleanup(p.Close)
	return p
}

// check runs one check with the given deadline.
func check(p *probe.PG, timeout time.Duration) probe.Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Check(ctx)
}

// mustOK runs one check and fails the test unless it passed.
func mustOK(t *testing.T, p *probe.PG) probe.Result {
	t.Helper()
	r := check(p, 10*time.Second)
	if r.Status != probe.OK {
		t.Fatalf("check: got %s (%s, %s: %v), want ok", r.Status, r.Detail, r.Class, r.Err)
	}
	return r
}

// waitCheck checks, up to limit, until cond holds for a result.
func waitCheck(t *testing.T, p *probe.PG, limit time.Duration, what string, cond func(probe.Result) bool) probe.Result {
	t.Helper()
	var r probe.Result
	testenv.WaitForReason(t, limit, what, func() (bool, string) {
		r = check(p, 5*time.Second)
		return cond(r), fmt.Sprintf("result %s: %s (%s: %v) %v", r.Status, r.Detail, r.Class, r.Err, r.Values)
	})
	return r
}

func heartbeatSeq(t *testing.T, c *pgtest.Cluster, table, node string) int64 {
	t.Helper()
	var seq int64
	c.QueryRow(t, "SELECT coalesce((SELECT seq FROM "+table+" WHERE node = $1), 0)", []any{node}, &seq)
	return seq
}

// TestPGPair runs the non-destructive cases against one shared primary and
// streaming standby.
func TestPGPair(t *testing.T) {
	t.Parallel()
	prim := pgtest.StartPrimary(t, pgtest.Options{})
	stby := prim.StartStandby(t)
	primary := newPG(t, probe.PGConfig{DSN: prim.DSN(), ExpectRole: probe.PGRolePrimary, Node: "node-a"})

	t.Run("write on primary", func(t *testing.T) {
		r := mustOK(t, primary)
		if got := heartbeatSeq(t, prim, "pbxha_heartbeat", "node-a"); got != 1 {
			t.Errorf("heartbeat seq after first check: got %d, want 1", got)
		}
		r = mustOK(t, primary)
		if got := heartbeatSeq(t, prim, "pbxha_heartbeat", "node-a"); got != 2 {
			t.Errorf("heartbeat seq after second check: got %d, want 2", got)
		}
		if got := r.Values["in_recovery"]; got != 0 {
			t.Errorf("in_recovery: got %g, want 0", got)
		}
		if got, ok := r.Values["write_latency_seconds"]; !ok || got <= 0 || got > 10 {
			t.Errorf("write_latency_seconds: got %g (present %v), want in (0, 10]", got, ok)
		}
		if !strings.HasPrefix(r.Detail, "primary, wal ") || !strings.Contains(r.Detail, ", write ") {
			t.Errorf("detail: got %q, want \"primary, wal ..., write ... ms\"", r.Detail)
		}
		st, ok := primary.Last()
		if !ok || st.Role != probe.PGRolePrimary || st.CurrentLSN == 0 || !st.Wrote {
			t.Fatalf("Last: got %+v (ok %v), want a primary with a WAL position and a write", st, ok)
		}
		if got, want := r.Values["wal_lsn"], float64(st.CurrentLSN); got != want {
			t.Errorf("wal_lsn: got %g, want %g", got, want)
		}
		if !strings.Contains(r.Detail, st.CurrentLSN.String()) {
			t.Errorf("detail: got %q, want it to contain wal %s", r.Detail, st.CurrentLSN)
		}
		var lsn string
		prim.QueryRow(t, "SELECT pg_current_wal_lsn()::text", nil, &lsn)
		now, err := probe.ParseLSN(lsn)
		if err != nil || now < st.CurrentLSN {
			t.Errorf("server LSN %s (%v): got below the probe's %s, want at or past it", lsn, err, st.CurrentLSN)
		}
	})

	t.Run("missing table is created", func(t *testing.T) {
		tests := []struct {
			name, table, quoted string
		}{
			{"plain", "hb_plain", `"hb_plain"`},
			{"needs quoting", "Heart Beat", `"Heart Beat"`},
			{"schema qualified", "public.hb_schema", `"public"."hb_schema"`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := newPG(t, probe.PGConfig{DSN: prim.DSN(), Table: tc.table, Node: "node-a"})
				mustOK(t, p)
				if got := heartbeatSeq(t, prim, tc.quoted, "node-a"); got != 1 {
					t.Errorf("seq in new table: got %d, want 1", got)
				}
				prim.Exec(t, "DROP TABLE "+tc.quoted)
				r := mustOK(t, p)
				if got := heartbeatSeq(t, prim, tc.quoted, "node-a"); got != 1 {
					t.Errorf("seq in re-created table: got %d, want 1", got)
				}
				if _, ok := r.Values["write_latency_seconds"]; !ok {
					t.Errorf("write_latency_seconds after re-creating: missing, want present")
				}
			})
		}
	})

	t.Run("standbys on primary", func(t *testing.T) {
		r := waitCheck(t, primary, 30*time.Second, "standby streaming", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["standbys"] == 1
		})
		if !strings.Contains(r.Detail, "1 standby streaming") {
			t.Errorf("detail: got %q, want \"1 standby streaming\"", r.Detail)
		}
		st, _ := primary.Last()
		if len(st.Standbys) != 1 || st.Standbys[0].Name != stby.Name || st.Standbys[0].Addr != "127.0.0.1" ||
			st.Standbys[0].SyncState != "async" {
			t.Errorf("standbys: got %+v, want one async standby %q from 127.0.0.1", st.Standbys, stby.Name)
		}
	})

	t.Run("standby role", func(t *testing.T) {
		tests := []struct {
			expect probe.PGRole
			want   probe.Status
			class  string
		}{
			{probe.PGRoleStandby, probe.OK, ""},
			{probe.PGRoleAny, probe.OK, ""},
			{"", probe.OK, ""},
			{probe.PGRolePrimary, probe.Failed, probe.ClassBadResponse},
		}
		for _, tc := range tests {
			name := "expect " + string(tc.expect)
			if tc.expect == "" {
				name = "expect unset"
			}
			t.Run(name, func(t *testing.T) {
				node := "standby-" + string(tc.expect)
				p := newPG(t, probe.PGConfig{DSN: stby.DSN(), ExpectRole: tc.expect, Node: node})
				for i := range 2 { // the first check sends the write, the second knows better
					r := check(p, 10*time.Second)
					if r.Status != tc.want || r.Class != tc.class {
						t.Fatalf("check %d: got %s/%q (%s, %v), want %s/%q", i, r.Status, r.Class, r.Detail, r.Err, tc.want, tc.class)
					}
					if got := r.Values["in_recovery"]; got != 1 {
						t.Errorf("check %d: in_recovery: got %g, want 1", i, got)
					}
					if got, ok := r.Values["write_latency_seconds"]; ok {
						t.Errorf("check %d: write_latency_seconds: got %g, want absent on a standby", i, got)
					}
					if tc.want == probe.OK && !strings.HasPrefix(r.Detail, "standby, replay lag ") {
						t.Errorf("check %d: detail: got %q, want \"standby, replay lag ...\"", i, r.Detail)
					}
					if tc.want == probe.Failed && r.Detail != "standby, expected primary" {
						t.Errorf("check %d: detail: got %q, want \"standby, expected primary\"", i, r.Detail)
					}
				}
				if got := heartbeatSeq(t, prim, "pbxha_heartbeat", node); got != 0 {
					t.Errorf("heartbeat of %s on the primary: got seq %d, want no row (write refused)", node, got)
				}
				st, ok := p.Last()
				if !ok || st.Role != probe.PGRoleStandby || st.ReplayLSN == 0 || st.ReceiveLSN == 0 || !st.Streaming || st.Wrote {
					t.Errorf("Last: got %+v (ok %v), want a streaming standby with positions and no write", st, ok)
				}
			})
		}
	})

	t.Run("lag while replay paused", func(t *testing.T) {
		standby := newPG(t, probe.PGConfig{DSN: stby.DSN(), ExpectRole: probe.PGRoleStandby})
		mustOK(t, standby)
		stby.Exec(t, "SELECT pg_wal_replay_pause()")
		resumed := false
		defer func() {
			if !resumed {
				stby.Exec(t, "SELECT pg_wal_replay_resume()")
			}
		}()
		prim.Exec(t, "CREATE TABLE IF NOT EXISTS filler AS SELECT g FROM generate_series(1, 1000) g")
		mustOK(t, primary)

		r := waitCheck(t, standby, 30*time.Second, "lag while paused", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["lag_bytes"] > 0
		})
		if !strings.Contains(r.Detail, "replay paused") {
			t.Errorf("detail: got %q, want it to say replay paused", r.Detail)
		}
		if got := r.Values["replay_delay_seconds"]; got <= 0 {
			t.Errorf("replay_delay_seconds while lagging: got %g, want > 0", got)
		}
		st, _ := standby.Last()
		if got, want := st.LagBytes, st.ReceiveLSN.BytesAfter(st.ReplayLSN); got != want || got == 0 {
			t.Errorf("LagBytes: got %d, want receive-replay %d > 0", got, want)
		}
		waitCheck(t, primary, 30*time.Second, "primary sees the standby behind", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["lag_bytes"] > 0
		})

		stby.Exec(t, "SELECT pg_wal_replay_resume()")
		resumed = true
		r = waitCheck(t, standby, 30*time.Second, "lag back to 0 after resume", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["lag_bytes"] == 0
		})
		if got := r.Values["replay_delay_seconds"]; got != 0 {
			t.Errorf("replay_delay_seconds caught up: got %g, want 0", got)
		}
		if strings.Contains(r.Detail, "paused") {
			t.Errorf("detail after resume: got %q, want no \"paused\"", r.Detail)
		}
	})

	// What a planned switchover waits for: the primary reads whether a
	// standby streams from it.
	t.Run("standby not streaming", func(t *testing.T) {
		standby := newPG(t, probe.PGConfig{DSN: stby.DSN(), ExpectRole: probe.PGRoleStandby})
		var conninfo string
		stby.QueryRow(t, "SHOW primary_conninfo", nil, &conninfo)
		restore := func() {
			stby.Exec(t, "ALTER SYSTEM SET primary_conninfo = '"+strings.ReplaceAll(conninfo, "'", "''")+"'")
			stby.Exec(t, "SELECT pg_reload_conf()")
		}
		stby.Exec(t, "ALTER SYSTEM SET primary_conninfo = ''")
		stby.Exec(t, "SELECT pg_reload_conf()")
		restored := false
		defer func() {
			if !restored {
				restore()
			}
		}()
		r := waitCheck(t, primary, 30*time.Second, "primary sees no streaming standby", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["standbys"] == 0
		})
		if st, _ := primary.Last(); st.StreamingStandbys() != 0 || !strings.Contains(r.Detail, "no standbys") {
			t.Errorf("primary: got %d streaming, detail %q; want 0 and \"no standbys\"", st.StreamingStandbys(), r.Detail)
		}
		r = waitCheck(t, standby, 30*time.Second, "standby says it does not stream", func(r probe.Result) bool {
			return r.Status == probe.OK && strings.Contains(r.Detail, "not streaming")
		})
		if st, _ := standby.Last(); st.Streaming || st.StreamingStandbys() != 0 {
			t.Errorf("standby: got Streaming %v and %d streaming standbys, want false and 0", st.Streaming, st.StreamingStandbys())
		}

		restore()
		restored = true
		waitCheck(t, primary, 30*time.Second, "primary sees the standby streaming again", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["standbys"] == 1
		})
		if st, _ := primary.Last(); st.StreamingStandbys() != 1 {
			t.Errorf("primary after restoring primary_conninfo: got %d streaming standbys, want 1", st.StreamingStandbys())
		}
	})

	// Last: it leaves two primaries.
	t.Run("promotion", func(t *testing.T) {
		p := newPG(t, probe.PGConfig{DSN: stby.DSN(), Node: "node-b"})
		mustOK(t, p) // now known as a standby: the write is no longer sent
		stby.Exec(t, "SELECT pg_promote()")
		r := waitCheck(t, p, 60*time.Second, "promoted server seen as primary", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["in_recovery"] == 0
		})
		if _, ok := r.Values["write_latency_seconds"]; !ok {
			t.Errorf("first check as primary: write_latency_seconds missing, want the heartbeat written")
		}
		if got := heartbeatSeq(t, stby, "pbxha_heartbeat", "node-b"); got != 1 {
			t.Errorf("heartbeat of node-b on the promoted server: got seq %d, want 1", got)
		}
	})
}

// TestPGFaults hangs and stops its own primary.
func TestPGFaults(t *testing.T) {
	t.Parallel()
	prim := pgtest.StartPrimary(t, pgtest.Options{})
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	const every = 10 * time.Second
	p := newPG(t, probe.PGConfig{DSN: prim.DSN(), ExpectRole: probe.PGRolePrimary, Node: "node-a",
		FreshConnEvery: every, Now: clock.Now})
	mustOK(t, p)

	t.Run("whole cluster hung", func(t *testing.T) {
		prim.Signal(t, syscall.SIGSTOP, pgtest.Whole)
		stopped := true
		defer func() {
			if stopped {
				prim.Signal(t, syscall.SIGCONT, pgtest.Whole)
			}
		}()
		const timeout = time.Second
		t0 := time.Now()
		r := check(p, timeout)
		took := time.Since(t0)
		if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
			t.Errorf("hung: got %s/%q (%s, %v), want failed/timeout", r.Status, r.Class, r.Detail, r.Err)
		}
		if took > timeout+3*time.Second {
			t.Errorf("hung check returned after %s, want about the %s deadline", took, timeout)
		}
		prim.Signal(t, syscall.SIGCONT, pgtest.Whole)
		stopped = false
		waitCheck(t, p, 30*time.Second, "same probe recovers after SIGCONT", func(r probe.Result) bool {
			return r.Status == probe.OK
		})
	})

	t.Run("postmaster hung", func(t *testing.T) {
		mustOK(t, p) // warm pool
		clock.Advance(every)
		mustOK(t, p) // fresh connection made now
		prim.Signal(t, syscall.SIGSTOP, pgtest.Postmaster)
		stopped := true
		defer func() {
			if stopped {
				prim.Signal(t, syscall.SIGCONT, pgtest.Postmaster)
			}
		}()
		clock.Advance(every / 2)
		if r := check(p, 2*time.Second); r.Status != probe.OK {
			t.Errorf("before the fresh connection is due: got %s (%s, %v), want ok from the pooled connection", r.Status, r.Detail, r.Err)
		}
		clock.Advance(every / 2)
		r := check(p, time.Second)
		if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
			t.Errorf("fresh connection due: got %s/%q (%s, %v), want failed/timeout", r.Status, r.Class, r.Detail, r.Err)
		}
		if r.Err == nil || !strings.Contains(r.Err.Error(), "new connection") {
			t.Errorf("err: got %v, want it to name the new connection", r.Err)
		}
		// Until a fresh connection succeeds, every check retries it.
		if r := check(p, time.Second); r.Status != probe.Failed {
			t.Errorf("next check while still hung: got %s, want failed", r.Status)
		}
		prim.Signal(t, syscall.SIGCONT, pgtest.Postmaster)
		stopped = false
		waitCheck(t, p, 30*time.Second, "fresh connection works after SIGCONT", func(r probe.Result) bool {
			return r.Status == probe.OK
		})
	})

	t.Run("restarted server", func(t *testing.T) {
		mustOK(t, p) // the pool holds a connection
		prim.Stop(t)
		prim.Start(t)
		// The pooled connection died with the old server; the check must
		// not blame the new one for it.
		if r := check(p, 5*time.Second); r.Status != probe.OK {
			t.Errorf("first check after restart: got %s (%s, %v), want ok", r.Status, r.Detail, r.Err)
		}
	})

	t.Run("stopped server", func(t *testing.T) {
		prim.Stop(t)
		r := check(p, 5*time.Second)
		if r.Status != probe.Failed || r.Class != probe.ClassRefused {
			t.Errorf("stopped: got %s/%q (%s, %v), want failed/refused", r.Status, r.Class, r.Detail, r.Err)
		}
		if r.Detail != "connection refused" {
			t.Errorf("detail: got %q, want \"connection refused\"", r.Detail)
		}
	})
}

func TestNewPGConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     probe.PGConfig
		wantErr string
	}{
		{"defaults", probe.PGConfig{DSN: "postgres://u@127.0.0.1:1/db"}, ""},
		{"key value dsn", probe.PGConfig{DSN: "host=127.0.0.1 port=1 user=u", ExpectRole: probe.PGRoleStandby}, ""},
		{"bad role", probe.PGConfig{DSN: "postgres://127.0.0.1/db", ExpectRole: "master"}, `expect_role "master"`},
		{"three-part table", probe.PGConfig{DSN: "postgres://127.0.0.1/db", Table: "a.b.c"}, `table "a.b.c"`},
		{"empty table part", probe.PGConfig{DSN: "postgres://127.0.0.1/db", Table: "a."}, `table "a."`},
		{"negative fresh", probe.PGConfig{DSN: "postgres://127.0.0.1/db", FreshConnEvery: -time.Second}, "fresh_conn_every"},
		{"bad dsn", probe.PGConfig{DSN: "postgres://u:secret@127.0.0.1:notaport/db"}, "pg: config: dsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := probe.NewPG(tc.cfg, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				p.Close()
				return
			}
			if err == nil {
				p.Close()
				t.Fatalf("got nil, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("got %q, want no password in the error", err)
			}
		})
	}
}

func TestPGTarget(t *testing.T) {
	p := newPG(t, probe.PGConfig{DSN: "postgres://u:secret@127.0.0.1:5433/pbx?sslmode=disable"})
	if got, want := p.Target(), "127.0.0.1:5433/pbx"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// BenchmarkPGCheck measures one check (role, positions and, on the primary,
// the committed heartbeat write) on a warm pool.
func BenchmarkPGCheck(b *testing.B) {
	prim := pgtest.StartPrimary(b, pgtest.Options{Fsync: true})
	stby := prim.StartStandby(b)
	for _, c := range []struct {
		name string
		dsn  string
	}{{"primary", prim.DSN()}, {"standby", stby.DSN()}} {
		b.Run(c.name, func(b *testing.B) {
			p, err := probe.NewPG(probe.PGConfig{DSN: c.dsn, Node: "bench"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			for b.Loop() {
				if r := check(p, 10*time.Second); r.Status != probe.OK {
					b.Fatalf("check: got %s (%s, %v), want ok", r.Status, r.Detail, r.Err)
				}
			}
		})
	}
}

// TestPGSyncRepHangIsCancelled: a primary whose synchronous standby never
// answers makes the write check hang at commit. The check fails at its
// deadline, and the statement_timeout it sets from that deadline makes the
// server give up the wait too, instead of leaving a backend (and a connection
// slot) waiting for the standby after every check.
func TestPGSyncRepHangIsCancelled(t *testing.T) {
	t.Parallel()
	prim := pgtest.StartPrimary(t, pgtest.Options{Settings: []string{"synchronous_commit = on", "synchronous_standby_names = 'ghost'"}})
	p := newPG(t, probe.PGConfig{DSN: prim.DSN(), ExpectRole: probe.PGRolePrimary, Node: "node-a"})

	const timeout = time.Second
	t0 := time.Now()
	r := check(p, timeout)
	if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
		t.Fatalf("got %s/%q (%s, %v), want failed/timeout: the commit waits for a standby that never comes", r.Status, r.Class, r.Detail, r.Err)
	}
	if took := time.Since(t0); took > timeout+3*time.Second {
		t.Errorf("check returned after %s, want about the %s deadline", took, timeout)
	}
	waiting := func() int {
		var n int
		prim.QueryRow(t, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", nil, &n)
		return n
	}
	testenv.WaitForReason(t, 10*time.Second, "no backend waiting for the synchronous standby after the check gave up", func() (bool, string) {
		n := waiting()
		return n == 0, fmt.Sprintf("%d backends still wait", n)
	})
}
