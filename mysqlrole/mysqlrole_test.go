package mysqlrole

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/mariadbtest"
)

func stepNames(r dbrole.Result) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, st.Name)
	}
	return strings.Join(s, ",")
}

func dumpSteps(r dbrole.Result) string {
	var b strings.Builder
	for _, st := range r.Steps {
		fmt.Fprintf(&b, "\n  %s (%s)", st.Name, st.Duration)
		if st.Err != "" {
			b.WriteString(" err: " + st.Err)
		}
		if st.Output != "" {
			b.WriteString(" output: " + st.Output)
		}
	}
	return b.String()
}

func newMover(t *testing.T, cfg Config) *Mover {
	t.Helper()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// position reads a server's GTID position as a transaction count.
func position(t *testing.T, s *mariadbtest.Server) uint64 {
	t.Helper()
	var pos string
	s.QueryRow(t, "SELECT @@gtid_binlog_pos", nil, &pos)
	l, err := probe.ParseMariaDBGTIDList(pos)
	if err != nil {
		t.Fatal(err)
	}
	return probe.MariaDBPosition(l)
}

func count(t *testing.T, s *mariadbtest.Server) int {
	t.Helper()
	var n int
	s.QueryRow(t, "SELECT count(*) FROM pbx.calls", nil, &n)
	return n
}

func waitCount(t *testing.T, s *mariadbtest.Server, want int) {
	t.Helper()
	testenv.WaitForReason(t, 30*time.Second, s.Name+" holding the rows", func() (bool, string) {
		var n int
		err := s.TryQueryRow("SELECT count(*) FROM pbx.calls", nil, &n)
		return err == nil && n == want, fmt.Sprintf("%d rows, %v", n, err)
	})
}

// appWrite inserts a row as the PBX's own user, whom read_only stops.
func appWrite(s *mariadbtest.Server, id int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", s.AppDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "INSERT INTO pbx.calls VALUES (?)", id)
	return err
}

// TestRoleMoves walks a real MariaDB primary and its GTID replica through
// a switchover and back:
//
//  1. the replica's IO thread stops and the primary commits 30 more
//     transactions: Promote refuses (too far behind, and with the peer's
//     position unknown);
//  2. replication resumes; the primary is made read-only (Stop: the app
//     user's writes are refused) and the replica promoted with its last
//     position, while Rejoin on the old primary waits for that promotion
//     and then replicates from the new primary;
//  3. the moves are no-ops where there is nothing to do;
//  4. a hung primary cannot be made read-only: the stop command kills it,
//     and without one the error matches ErrStillPrimary.
func TestRoleMoves(t *testing.T) {
	a := mariadbtest.StartPrimary(t, mariadbtest.Options{})
	b := a.StartReplica(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a.Exec(t, "CREATE TABLE pbx.calls (id INT PRIMARY KEY)")
	for i := 1; i <= 10; i++ {
		if err := appWrite(a, i); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, b, 10)
	mb := newMover(t, Config{DSN: b.DSN(), MaxLagTransactions: 10, PromoteTimeout: 10 * time.Second})
	ma := newMover(t, Config{DSN: a.DSN(), StopTimeout: 10 * time.Second})

	t.Run("refuse", func(t *testing.T) {
		b.Exec(t, "STOP SLAVE IO_THREAD")
		defer b.Exec(t, "START SLAVE IO_THREAD")
		for i := 11; i <= 40; i++ {
			if err := appWrite(a, i); err != nil {
				t.Fatal(err)
			}
		}
		peer := position(t, a)
		for _, tc := range []struct {
			name        string
			peer        uint64
			wantUnknown bool
		}{{"more than max_lag_transactions behind", peer, false}, {"peer position unknown", 0, true}} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := mb.Promote(ctx, probe.LSN(tc.peer), false)
				var le *LagError
				if !errors.Is(err, dbrole.ErrTooFarBehind) || !errors.As(err, &le) || le.Unknown != tc.wantUnknown {
					t.Fatalf("Promote: got %v, want a LagError (unknown %v)%s", err, tc.wantUnknown, dumpSteps(res))
				}
				if !tc.wantUnknown && le.Lag < 30 {
					t.Errorf("lag: got %d transactions, want at least the 30 the replica missed", le.Lag)
				}
				if res.Before != dbrole.RoleStandby || res.After != dbrole.RoleStandby || res.Changed {
					t.Errorf("result: got %s to %s, changed %v; want standby, unchanged", res.Before, res.After, res.Changed)
				}
				if ro, _, err := b.ReplicaState(); err != nil || !ro {
					t.Errorf("replica after a refused promotion: read_only %v (%v), want on", ro, err)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	waitCount(t, b, 40)

	t.Run("switchover", func(t *testing.T) {
		res, err := ma.Stop(ctx, dbrole.DemoteArgs{Node: "node-a"})
		if err != nil || !res.Changed || res.Before != dbrole.RolePrimary || res.After != dbrole.RoleStandby {
			t.Fatalf("Stop: got %+v, %v; want primary to standby%s", res, err, dumpSteps(res))
		}
		if got, want := stepNames(res), "read role,read only,send binlog,verify"; got != want {
			t.Errorf("Stop steps: got %s, want %s", got, want)
		}
		var me *mysql.MySQLError
		if err := appWrite(a, 1000); !errors.As(err, &me) || me.Number != probe.MySQLErrReadOnly {
			t.Errorf("app write on the read-only old primary: got %v, want error 1290", err)
		}
		peer := position(t, a)

		// The rejoin starts first and waits for b's promotion.
		rejoined := make(chan error, 1)
		var rres dbrole.Result
		go func() {
			var err error
			rres, err = ma.Rejoin(ctx, dbrole.DemoteArgs{Node: "node-a", PeerHost: "127.0.0.1", PeerPort: b.Port})
			rejoined <- err
		}()
		res, err = mb.Promote(ctx, probe.LSN(peer), false)
		if err != nil || !res.Changed || res.After != dbrole.RolePrimary || res.Overridden {
			t.Fatalf("Promote: got %+v, %v; want standby to primary%s", res, err, dumpSteps(res))
		}
		if got, want := stepNames(res), "read role,apply relay log,promote,verify"; got != want {
			t.Errorf("Promote steps: got %s, want %s", got, want)
		}
		if err := appWrite(b, 2000); err != nil {
			t.Errorf("app write on the new primary: %v", err)
		}
		if got := count(t, b); got != 41 {
			t.Errorf("rows on the new primary: got %d, want 41", got)
		}
		if err := <-rejoined; err != nil || !rres.Changed {
			t.Fatalf("Rejoin: got %v%s", err, dumpSteps(rres))
		}
		if got, want := stepNames(rres), "read role,wait for the new primary,replicate,verify"; got != want {
			t.Errorf("Rejoin steps: got %s, want %s", got, want)
		}
		waitCount(t, a, 41)
		if ro, src, err := a.ReplicaState(); err != nil || !ro || src != "127.0.0.1" {
			t.Errorf("old primary: read_only %v, source %q (%v); want a read-only replica of 127.0.0.1", ro, src, err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("no-ops", func(t *testing.T) {
		res, err := mb.Promote(ctx, 0, false)
		if err != nil || res.Changed {
			t.Errorf("Promote of a primary: got %+v, %v; want a no-op", res, err)
		}
		res, err = ma.Stop(ctx, dbrole.DemoteArgs{})
		if err != nil || res.Changed || stepNames(res) != "read role" {
			t.Errorf("Stop of a replica: got %+v, %v; want a no-op", res, err)
		}
		res, err = ma.Rejoin(ctx, dbrole.DemoteArgs{PeerHost: "127.0.0.1", PeerPort: b.Port})
		if err != nil || res.Changed || stepNames(res) != "read role" {
			t.Errorf("Rejoin of a replica of the peer: got %+v, %v; want a no-op", res, err)
		}
		if _, err := ma.Rejoin(ctx, dbrole.DemoteArgs{}); err == nil || !strings.Contains(err.Error(), "no peer host") {
			t.Errorf("Rejoin without a peer: got %v, want an error naming the peer host", err)
		}
	})

	t.Run("hung primary", func(t *testing.T) {
		b.Signal(t, syscall.SIGSTOP)
		quick := Config{DSN: b.DSN(), StopTimeout: time.Second, ConnectTimeout: 500 * time.Millisecond}
		res, err := newMover(t, quick).Stop(ctx, dbrole.DemoteArgs{})
		if !errors.Is(err, dbrole.ErrStillPrimary) || res.Changed {
			t.Errorf("Stop of a hung primary without a stop command: got %v, changed %v; want ErrStillPrimary", err, res.Changed)
		}
		quick.StopCommand = []string{"kill", "-KILL", strconv.Itoa(b.PID())}
		res, err = newMover(t, quick).Stop(ctx, dbrole.DemoteArgs{})
		if err != nil || !res.Changed || res.After != dbrole.RoleStopped {
			t.Fatalf("Stop with a stop command: got %+v, %v; want stopped%s", res, err, dumpSteps(res))
		}
		if got, want := stepNames(res), "read role,stop command,verify"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})
}
