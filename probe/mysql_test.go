package probe_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/mariadbtest"
)

func newMySQL(t *testing.T, cfg probe.MySQLConfig) *probe.MySQL {
	t.Helper()
	p, err := probe.NewMySQL(cfg, nil)
	if err != nil {
		t.Fatalf("NewMySQL: got %v, want nil", err)
	}
	t.Cleanup(p.Close)
	return p
}

func checkMySQL(p *probe.MySQL, timeout time.Duration) probe.Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Check(ctx)
}

func mustMySQLOK(t *testing.T, p *probe.MySQL) probe.Result {
	t.Helper()
	r := checkMySQL(p, 10*time.Second)
	if r.Status != probe.OK {
		t.Fatalf("check: got %s (%s, %s: %v), want ok", r.Status, r.Detail, r.Class, r.Err)
	}
	return r
}

func waitMySQL(t *testing.T, p *probe.MySQL, what string, cond func(probe.Result) bool) probe.Result {
	t.Helper()
	var r probe.Result
	testenv.WaitForReason(t, 30*time.Second, what, func() (bool, string) {
		r = checkMySQL(p, 5*time.Second)
		return cond(r), fmt.Sprintf("result %s: %s (%s: %v) %v", r.Status, r.Detail, r.Class, r.Err, r.Values)
	})
	return r
}

func mysqlSeq(t *testing.T, s *mariadbtest.Server, table, node string) int64 {
	t.Helper()
	var seq int64
	s.QueryRow(t, "SELECT COALESCE((SELECT seq FROM "+table+" WHERE node = ?), 0)", []any{node}, &seq)
	return seq
}

// TestMySQLPair runs the probe against a real MariaDB primary and its GTID
// replica.
func TestMySQLPair(t *testing.T) {
	t.Parallel()
	prim := mariadbtest.StartPrimary(t, mariadbtest.Options{})
	repl := prim.StartReplica(t)
	primary := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN(), ExpectRole: probe.MySQLRolePrimary, Node: "node-a"})

	t.Run("write on primary", func(t *testing.T) {
		mustMySQLOK(t, primary)
		r := mustMySQLOK(t, primary)
		if got := mysqlSeq(t, prim, "pbxha.pbxha_heartbeat", "node-a"); got != 2 {
			t.Errorf("heartbeat seq after two checks: got %d, want 2", got)
		}
		if r.Values["read_only"] != 0 || r.Values["replica"] != 0 {
			t.Errorf("values: got %v, want read_only 0, replica 0", r.Values)
		}
		if got, ok := r.Values["write_latency_seconds"]; !ok || got <= 0 || got > 10 {
			t.Errorf("write_latency_seconds: got %g (present %v), want in (0, 10]", got, ok)
		}
		st, ok := primary.Last()
		if !ok || st.Role != probe.MySQLRolePrimary || st.Server.Flavor != probe.FlavorMariaDB || !st.Wrote {
			t.Fatalf("Last: got %+v (ok %v), want a MariaDB primary that wrote", st, ok)
		}
		var pos string
		prim.QueryRow(t, "SELECT @@gtid_binlog_pos", nil, &pos)
		l, err := probe.ParseMariaDBGTIDList(pos)
		if err != nil || probe.MariaDBPosition(l) < st.Position() || st.Position() == 0 {
			t.Errorf("position: server at %q (%v), probe read %d; want the probe's at or below, above 0", pos, err, st.Position())
		}
		if got, want := r.Values["gtid_position"], float64(st.Position()); got != want {
			t.Errorf("gtid_position: got %g, want %g", got, want)
		}
		if !strings.HasPrefix(r.Detail, "primary, gtid 0-1-") || !strings.Contains(r.Detail, "1 replica") || !strings.Contains(r.Detail, ", write ") {
			t.Errorf("detail: got %q, want \"primary, gtid 0-1-N, 1 replica, write ... ms\"", r.Detail)
		}
	})

	t.Run("missing table is created", func(t *testing.T) {
		p := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN(), Table: "pbxha.hb_other", Node: "node-a"})
		mustMySQLOK(t, p)
		prim.Exec(t, "DROP TABLE pbxha.hb_other")
		mustMySQLOK(t, p)
		if got := mysqlSeq(t, prim, "pbxha.hb_other", "node-a"); got != 1 {
			t.Errorf("seq in the re-created table: got %d, want 1", got)
		}
	})

	t.Run("replica role", func(t *testing.T) {
		tests := []struct {
			expect probe.MySQLRole
			want   probe.Status
		}{
			{probe.MySQLRoleReplica, probe.OK},
			{probe.MySQLRoleAny, probe.OK},
			{probe.MySQLRolePrimary, probe.Failed},
		}
		for _, tc := range tests {
			t.Run("expect "+string(tc.expect), func(t *testing.T) {
				p := newMySQL(t, probe.MySQLConfig{DSN: repl.DSN(), ExpectRole: tc.expect, Node: "replica-" + string(tc.expect)})
				r := waitMySQL(t, p, "replica streaming", func(r probe.Result) bool {
					return r.Status == tc.want && r.Values["io_running"] == 1 && r.Values["sql_running"] == 1
				})
				if r.Values["replica"] != 1 || r.Values["read_only"] != 1 {
					t.Errorf("values: got %v, want replica 1, read_only 1", r.Values)
				}
				if _, ok := r.Values["write_latency_seconds"]; ok {
					t.Errorf("write_latency_seconds on a replica: present, want absent")
				}
				if tc.want == probe.OK && !strings.HasPrefix(r.Detail, "replica of 127.0.0.1:"+fmt.Sprint(prim.Port)+", io yes, sql yes, lag 0s") {
					t.Errorf("detail: got %q, want \"replica of 127.0.0.1:%d, io yes, sql yes, lag 0s...\"", r.Detail, prim.Port)
				}
				if tc.want == probe.Failed && (r.Detail != "replica, expected primary" || r.Class != probe.ClassBadResponse) {
					t.Errorf("detail: got %q (%s), want \"replica, expected primary\" (bad_response)", r.Detail, r.Class)
				}
				if got := mysqlSeq(t, prim, "pbxha.pbxha_heartbeat", "replica-"+string(tc.expect)); got != 0 {
					t.Errorf("heartbeat of the replica: got seq %d, want no row", got)
				}
				st, _ := p.Last()
				if !st.Streaming() || st.Source != fmt.Sprintf("127.0.0.1:%d", prim.Port) {
					t.Errorf("Last: got %+v, want streaming from the primary", st)
				}
			})
		}
	})

	t.Run("lag while the SQL thread is stopped", func(t *testing.T) {
		p := newMySQL(t, probe.MySQLConfig{DSN: repl.DSN(), ExpectRole: probe.MySQLRoleReplica})
		repl.Exec(t, "STOP SLAVE SQL_THREAD")
		started := false
		defer func() {
			if !started {
				repl.Exec(t, "START SLAVE SQL_THREAD")
			}
		}()
		prim.Exec(t, "CREATE TABLE IF NOT EXISTS pbx.filler (id INT AUTO_INCREMENT PRIMARY KEY)")
		for range 5 {
			prim.Exec(t, "INSERT INTO pbx.filler VALUES ()")
		}
		r := waitMySQL(t, p, "transactions to apply", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["lag_transactions"] >= 5 && r.Values["sql_running"] == 0
		})
		if !strings.Contains(r.Detail, "sql no") {
			t.Errorf("detail: got %q, want \"sql no\"", r.Detail)
		}
		// The position counts what was received: the heartbeat's number.
		pst, _ := primary.Last()
		mustMySQLOK(t, primary)
		pst, _ = primary.Last()
		st, _ := p.Last()
		if st.Position() < pst.Position()-1 || st.Position() <= st.AppliedCount {
			t.Errorf("replica position %d (applied %d), primary %d: want the received position near the primary's", st.Position(), st.AppliedCount, pst.Position())
		}
		repl.Exec(t, "START SLAVE SQL_THREAD")
		started = true
		waitMySQL(t, p, "lag back to 0", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["lag_transactions"] == 0 && r.Values["sql_running"] == 1
		})
	})

	t.Run("replication stopped", func(t *testing.T) {
		p := newMySQL(t, probe.MySQLConfig{DSN: repl.DSN(), ExpectRole: probe.MySQLRoleReplica})
		repl.Exec(t, "STOP SLAVE")
		defer repl.Exec(t, "START SLAVE")
		r := waitMySQL(t, p, "io thread stopped", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["io_running"] == 0
		})
		if !strings.Contains(r.Detail, "io no, sql no") {
			t.Errorf("detail: got %q, want \"io no, sql no\"", r.Detail)
		}
		waitMySQL(t, primary, "the primary sees no replica", func(r probe.Result) bool {
			return r.Status == probe.OK && r.Values["replicas"] == 0
		})
	})

	t.Run("read_only primary", func(t *testing.T) {
		prim.Exec(t, "SET GLOBAL read_only = ON")
		defer prim.Exec(t, "SET GLOBAL read_only = OFF")
		r := checkMySQL(primary, 5*time.Second)
		if r.Status != probe.Failed || r.Detail != "replica, expected primary" {
			t.Errorf("expect primary: got %s %q, want failed \"replica, expected primary\"", r.Status, r.Detail)
		}
		any := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN()})
		r = mustMySQLOK(t, any)
		if !strings.HasPrefix(r.Detail, "replica, not replicating") {
			t.Errorf("expect any: got %q, want \"replica, not replicating...\"", r.Detail)
		}
	})

	// A primary up but not committing writes (as when its disk is full:
	// MariaDB waits for space) fails at the deadline.
	t.Run("writes blocked", func(t *testing.T) {
		ctx := context.Background()
		conn := openAdminConn(t, prim)
		if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			t.Fatal(err)
		}
		const timeout = time.Second
		t0 := time.Now()
		r := checkMySQL(primary, timeout)
		if took := time.Since(t0); took > timeout+3*time.Second {
			t.Errorf("check returned after %s, want about the %s deadline", took, timeout)
		}
		if r.Status != probe.Failed || r.Class != probe.ClassTimeout || r.Detail != "primary, write timeout" {
			t.Errorf("got %s/%s %q (%v), want failed/timeout \"primary, write timeout\"", r.Status, r.Class, r.Detail, r.Err)
		}
		// The server gave up the write too (the driver closed the connection
		// at the deadline; MariaDB also gets max_statement_time): no thread
		// is left waiting for the lock after every failed check.
		testenv.WaitForReason(t, 10*time.Second, "no heartbeat write waiting on the server", func() (bool, string) {
			var n int
			err := conn.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%INSERT INTO `pbxha_heartbeat`%' AND ID <> CONNECTION_ID()").Scan(&n)
			return err == nil && n == 0, fmt.Sprintf("%d waiting (%v)", n, err)
		})
		if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		waitMySQL(t, primary, "writes again after UNLOCK TABLES", func(r probe.Result) bool { return r.Status == probe.OK })
	})

	t.Run("write refused", func(t *testing.T) {
		p := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN(), Table: "mysql.pbxha_heartbeat", Node: "node-a"})
		r := checkMySQL(p, 5*time.Second)
		if r.Status != probe.Failed || r.Class != probe.ClassConfig || !strings.HasPrefix(r.Detail, "primary, write failed: ") {
			t.Errorf("got %s/%s %q, want failed/config \"primary, write failed: ...\"", r.Status, r.Class, r.Detail)
		}
	})

	// Last: the replica becomes a primary.
	t.Run("promotion", func(t *testing.T) {
		p := newMySQL(t, probe.MySQLConfig{DSN: repl.DSN(), Node: "node-b"})
		mustMySQLOK(t, p)
		repl.Exec(t, "STOP SLAVE")
		repl.Exec(t, "RESET SLAVE ALL")
		repl.Exec(t, "SET GLOBAL read_only = OFF")
		r := mustMySQLOK(t, p)
		if _, ok := r.Values["write_latency_seconds"]; !ok || r.Values["replica"] != 0 {
			t.Errorf("first check as primary: got %v, want a primary that wrote", r.Values)
		}
		if got := mysqlSeq(t, repl, "pbxha.pbxha_heartbeat", "node-b"); got != 1 {
			t.Errorf("heartbeat of node-b: got seq %d, want 1", got)
		}
	})
}

// TestMySQLFaults hangs and stops its own server.
func TestMySQLFaults(t *testing.T) {
	t.Parallel()
	prim := mariadbtest.StartPrimary(t, mariadbtest.Options{})
	p := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN(), ExpectRole: probe.MySQLRolePrimary, Node: "node-a"})
	mustMySQLOK(t, p)

	t.Run("hung", func(t *testing.T) {
		prim.Signal(t, syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				prim.Signal(t, syscall.SIGCONT)
			}
		}()
		const timeout = time.Second
		t0 := time.Now()
		r := checkMySQL(p, timeout)
		if took := time.Since(t0); took > timeout+3*time.Second {
			t.Errorf("hung check returned after %s, want about the %s deadline", took, timeout)
		}
		if r.Status != probe.Failed || r.Class != probe.ClassTimeout {
			t.Errorf("hung: got %s/%q (%s, %v), want failed/timeout", r.Status, r.Class, r.Detail, r.Err)
		}
		prim.Signal(t, syscall.SIGCONT)
		stopped = false
		waitMySQL(t, p, "recovers after SIGCONT", func(r probe.Result) bool { return r.Status == probe.OK })
	})

	t.Run("restarted", func(t *testing.T) {
		prim.Stop(t)
		prim.Start(t)
		waitMySQL(t, p, "ok after a restart", func(r probe.Result) bool { return r.Status == probe.OK })
	})

	t.Run("stopped", func(t *testing.T) {
		prim.Stop(t)
		r := checkMySQL(p, 5*time.Second)
		if r.Status != probe.Failed || r.Class != probe.ClassRefused || r.Detail != "connection refused" {
			t.Errorf("stopped: got %s/%q %q (%v), want failed/refused \"connection refused\"", r.Status, r.Class, r.Detail, r.Err)
		}
	})
}

// TestMySQLFullDisk: a primary whose disk is full is up but takes no
// writes (MariaDB waits for space to write its binary log): the check
// fails at its deadline, and the role is still read.
func TestMySQLFullDisk(t *testing.T) {
	t.Parallel()
	prim := mariadbtest.StartPrimary(t, mariadbtest.Options{DiskSize: "256m"})
	p := newMySQL(t, probe.MySQLConfig{DSN: prim.DSN(), ExpectRole: probe.MySQLRolePrimary, Node: "node-a"})
	mustMySQLOK(t, p)
	prim.FillDisk(t)
	// A few writes may still fit in pages the files already have; the
	// binary log soon needs a new one.
	const timeout = time.Second
	var (
		r    probe.Result
		took time.Duration
	)
	for i := 0; i < 500; i++ {
		t0 := time.Now()
		if r = checkMySQL(p, timeout); r.Status != probe.OK {
			took = time.Since(t0)
			t.Logf("check %d failed: %s (%v)", i, r.Detail, r.Err)
			break
		}
	}
	if took > timeout+3*time.Second {
		t.Errorf("check returned after %s, want about the %s deadline", took, timeout)
	}
	if r.Status != probe.Failed || r.Class != probe.ClassTimeout || r.Detail != "primary, write timeout" {
		t.Errorf("full disk: got %s/%s %q (%v), want failed/timeout \"primary, write timeout\"", r.Status, r.Class, r.Detail, r.Err)
	}
	prim.FreeDisk(t)
}

func TestNewMySQLConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     probe.MySQLConfig
		wantErr string
	}{
		{"defaults", probe.MySQLConfig{DSN: "u:p@tcp(127.0.0.1:3306)/pbxha"}, ""},
		{"qualified table, no database", probe.MySQLConfig{DSN: "u@tcp(127.0.0.1:3306)/", Table: "pbxha.hb"}, ""},
		{"bad role", probe.MySQLConfig{DSN: "u@tcp(127.0.0.1)/d", ExpectRole: "standby"}, `expect_role "standby"`},
		{"no database", probe.MySQLConfig{DSN: "u@tcp(127.0.0.1)/"}, "names no database"},
		{"three-part table", probe.MySQLConfig{DSN: "u@tcp(127.0.0.1)/d", Table: "a.b.c"}, `table "a.b.c"`},
		{"backtick", probe.MySQLConfig{DSN: "u@tcp(127.0.0.1)/d", Table: "a`b"}, "invalid name part"},
		{"bad dsn", probe.MySQLConfig{DSN: "u:secret@tcp(127.0.0.1:3306/d"}, "mysql: config: dsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := probe.NewMySQL(tc.cfg, nil)
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
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret") {
				t.Errorf("got %q, want it to contain %q and no password", err, tc.wantErr)
			}
		})
	}
	p := newMySQL(t, probe.MySQLConfig{DSN: "u:secret@tcp(127.0.0.1:3307)/pbx"})
	if got, want := p.Target(), "127.0.0.1:3307/pbx"; got != want {
		t.Errorf("Target: got %q, want %q", got, want)
	}
}

// BenchmarkMySQLCheck measures one check (role, positions, replicas and,
// on the primary, the committed heartbeat write) on a warm pool.
func BenchmarkMySQLCheck(b *testing.B) {
	prim := mariadbtest.StartPrimary(b, mariadbtest.Options{Settings: []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"}})
	repl := prim.StartReplica(b)
	for _, c := range []struct{ name, dsn string }{{"primary", prim.DSN()}, {"replica", repl.DSN()}} {
		b.Run(c.name, func(b *testing.B) {
			p, err := probe.NewMySQL(probe.MySQLConfig{DSN: c.dsn, Node: "bench"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			for b.Loop() {
				if r := checkMySQL(p, 10*time.Second); r.Status != probe.OK {
					b.Fatalf("check: got %s (%s, %v), want ok", r.Status, r.Detail, r.Err)
				}
			}
		})
	}
}

// openAdminConn opens one connection to s as the admin user, closed in
// t.Cleanup.
func openAdminConn(t *testing.T, s *mariadbtest.Server) *sql.Conn {
	t.Helper()
	db, err := sql.Open("mysql", s.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
