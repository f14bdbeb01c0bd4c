package dbrole

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/test/pgtest"
)

// TestRoleMoves walks one pair of real clusters through a failover and
// back, reusing them to keep the test short:
//
//  1. the standby loses its WAL stream, the primary writes ~100 KiB more:
//     Promote refuses (too far behind, and with the peer position
//     unknown), then force promotes;
//  2. the old primary, now a second primary, is demoted by
//     configs/pg-demote.sh: rewound, restarted as a streaming standby of
//     the new primary;
//  3. the new primary stops; the caught-up old primary is promoted with the
//     new primary's last position;
//  4. failing demote commands: stop command instead, or ErrStillPrimary;
//  5. the release in two halves: Stop leaves a stopped server alone, and
//     Rejoin runs configs/pg-demote.sh on the stopped old primary, which
//     is rewound onto the restarted b and streams from it; Stop stops b,
//     whose Rejoin waits for a's promotion, begun a moment later.
func TestRoleMoves(t *testing.T) {
	bin := pgBin(t)
	a := pgtest.StartPrimary(t, pgtest.Options{Settings: []string{
		// pg_rewind needs both, and the old primary's WAL back to where
		// the timelines diverged.
		"wal_log_hints = on",
		"full_page_writes = on",
		"wal_keep_size = 256MB",
	}})
	b := a.StartStandby(t)
	// pg-demote.sh restarts a's server outside pgtest; stop whatever runs in
	// its data directory before pgtest removes it.
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(a.DataDir + ".pbxha.log")
			t.Logf("log of a restarted by pg-demote.sh:\n%s\nlog of a:\n%s\nlog of b:\n%s", out, a.Log(), b.Log())
		}
		cmd := asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "immediate", "-w")
		_ = exec.Command(cmd[0], cmd[1:]...).Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	a.Exec(t, "CREATE TABLE calls (id int PRIMARY KEY, note text)")
	a.Exec(t, "INSERT INTO calls SELECT g, 'before' FROM generate_series(1, 10) g")
	waitCount(t, b, "SELECT count(*) FROM calls", 10)

	// The standby's WAL receiver stops: what a comes to write next never
	// reaches b, as when the link fails before the primary dies.
	b.Exec(t, "ALTER SYSTEM SET primary_conninfo = ''")
	b.Exec(t, "SELECT pg_reload_conf()")
	waitCount(t, b, "SELECT count(*) FROM pg_stat_wal_receiver", 0)
	a.Exec(t, "INSERT INTO calls SELECT g, repeat('x', 1000) FROM generate_series(11, 110) g")
	var aText string
	if err := query(a, "SELECT pg_current_wal_lsn()::text", &aText); err != nil {
		t.Fatal(err)
	}
	aWAL, err := probe.ParseLSN(aText)
	if err != nil {
		t.Fatal(err)
	}

	mb, err := New(Config{DSN: b.DSN(), MaxLagBytes: 8 << 10, StopCommand: []string{"false"}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("refuse", func(t *testing.T) {
		tests := []struct {
			name        string
			peer        probe.LSN
			wantUnknown bool
		}{
			{"more than max_lag_bytes behind", aWAL, false},
			{"peer position unknown", 0, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res, err := mb.Promote(ctx, tc.peer, false)
				if !errors.Is(err, ErrTooFarBehind) {
					t.Fatalf("Promote: got %v, want ErrTooFarBehind", err)
				}
				var le *LagError
				if !errors.As(err, &le) || le.Unknown != tc.wantUnknown || le.Peer != tc.peer {
					t.Fatalf("LagError: got %+v, want unknown %v, peer %s", le, tc.wantUnknown, tc.peer)
				}
				if !tc.wantUnknown && le.Lag < 100_000 {
					t.Errorf("lag: got %d bytes, want at least the 100 KB the standby missed", le.Lag)
				}
				if res.Before != RoleStandby || res.After != RoleStandby || res.Changed {
					t.Errorf("result: got before %s, after %s, changed %v; want standby, standby, false", res.Before, res.After, res.Changed)
				}
				if res.LocalLSN == 0 || res.LocalLSN >= aWAL {
					t.Errorf("LocalLSN: got %s, want between 0 and %s", res.LocalLSN, aWAL)
				}
				if !inRecovery(t, b) {
					t.Errorf("standby after a refused promotion: got primary, want still in recovery")
				}
			})
		}
	})
	if t.Failed() {
		return
	}

	t.Run("force promotes", func(t *testing.T) {
		res, err := mb.Promote(ctx, aWAL, true)
		if err != nil {
			t.Fatalf("Promote(force): %v%s", err, dumpSteps(res))
		}
		if !res.Changed || !res.Overridden || res.Before != RoleStandby || res.After != RolePrimary {
			t.Errorf("result: got %+v, want changed, overridden, standby to primary", res)
		}
		if got, want := stepNames(res), "read role,promote,verify"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
		if inRecovery(t, b) {
			t.Fatalf("after Promote: got in recovery, want primary")
		}
		if err := b.TryExec("INSERT INTO calls VALUES (1000, 'on the new primary')"); err != nil {
			t.Errorf("write on the promoted server: got %v, want nil", err)
		}
		// A second Promote is a no-op.
		res, err = mb.Promote(ctx, aWAL, false)
		if err != nil || res.Changed || res.Before != RolePrimary {
			t.Errorf("Promote of a primary: got %+v, %v; want unchanged, nil", res, err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("demote script rejoins the old primary", func(t *testing.T) {
		if inRecovery(t, a) {
			t.Fatalf("a before Demote: got standby, want the old primary")
		}
		ma, err := New(Config{
			DSN:           a.DSN(),
			DemoteCommand: []string{scriptPath(t)},
			DemoteTimeout: 3 * time.Minute,
			StopCommand:   asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "immediate", "-w"),
			Env:           []string{"PGDATA=" + a.DataDir, "PG_CTL_OPTS=-p " + strconv.Itoa(a.Port), "PG_START_TIMEOUT=120"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ma.Demote(ctx, DemoteArgs{Node: "node-a", PeerHost: "127.0.0.1", PeerPort: b.Port})
		if err != nil {
			t.Fatalf("Demote: %v%s", err, dumpSteps(res))
		}
		if res.Before != RolePrimary || res.After != RoleStandby || !res.Changed {
			t.Fatalf("result: got before %s, after %s, changed %v; want primary, standby, true%s",
				res.Before, res.After, res.Changed, dumpSteps(res))
		}
		if got, want := stepNames(res), "read role,demote command,verify"; got != want {
			t.Errorf("steps: got %s, want %s%s", got, want, dumpSteps(res))
		}
		if !inRecovery(t, a) {
			t.Errorf("a after Demote: got primary, want in recovery")
		}
		testenv.WaitForReason(t, 60*time.Second, "a streams from b", func() (bool, string) {
			var status string
			err := query(a, "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')", &status)
			if err != nil {
				return false, err.Error()
			}
			return status == "streaming", status
		})
		// The rows only the old primary had are gone (rewound); the new
		// primary's writes arrive.
		b.Exec(t, "INSERT INTO calls VALUES (1001, 'after the rejoin')")
		waitCount(t, a, "SELECT count(*) FROM calls WHERE id IN (1000, 1001)", 2)
		waitCount(t, a, "SELECT count(*) FROM calls WHERE id BETWEEN 11 AND 110", 0)
		var n int64
		if err := query(b, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", &n); err != nil || n != 1 {
			t.Errorf("b's streaming standbys: got %d (%v), want 1", n, err)
		}

		// Demoting a standby is a no-op: the command does not run.
		marker := filepath.Join(t.TempDir(), "ran")
		mNoop, err := New(Config{DSN: a.DSN(), DemoteCommand: []string{"touch", marker}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err = mNoop.Demote(ctx, DemoteArgs{})
		if err != nil || res.Changed || res.Before != RoleStandby || stepNames(res) != "read role" {
			t.Errorf("Demote of a standby: got %+v, %v; want a no-op", res, err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("demote command ran for a standby, want not run")
		}
	})
	if t.Failed() {
		return
	}

	t.Run("caught-up standby promoted after the primary stops", func(t *testing.T) {
		b.Exec(t, "INSERT INTO calls SELECT g, 'caught up' FROM generate_series(2000, 2099) g")
		waitCount(t, a, "SELECT count(*) FROM calls WHERE id >= 2000", 100)
		var bText string
		if err := query(b, "SELECT pg_current_wal_lsn()::text", &bText); err != nil {
			t.Fatal(err)
		}
		bWAL, err := probe.ParseLSN(bText)
		if err != nil {
			t.Fatal(err)
		}
		testenv.WaitForReason(t, 60*time.Second, "a received b's last position", func() (bool, string) {
			var recv string
			if err := query(a, "SELECT pg_last_wal_receive_lsn()::text", &recv); err != nil {
				return false, err.Error()
			}
			l, err := probe.ParseLSN(recv)
			return err == nil && l >= bWAL, recv
		})
		b.Stop(t)

		ma, err := New(Config{DSN: a.DSN(), StopCommand: []string{"false"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ma.Promote(ctx, bWAL, false)
		if err != nil {
			t.Fatalf("Promote: %v%s", err, dumpSteps(res))
		}
		if !res.Changed || res.Overridden || res.LagBytes != 0 || res.LocalLSN < bWAL || res.PeerLSN != bWAL {
			t.Errorf("result: got %+v, want changed, not overridden, lag 0, local >= peer %s", res, bWAL)
		}
		if inRecovery(t, a) {
			t.Fatalf("a after Promote: got in recovery, want primary")
		}
		if err := a.TryExec("INSERT INTO calls VALUES (3000, 'a is primary again')"); err != nil {
			t.Errorf("write on a: got %v, want nil", err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("demote and stop commands fail", func(t *testing.T) {
		ma, err := New(Config{
			DSN:           a.DSN(),
			DemoteCommand: []string{"sh", "-c", "echo pg_rewind: could not connect to the source >&2; exit 4"},
			StopCommand:   []string{"sh", "-c", "echo pg_ctl: stop failed >&2; exit 1"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ma.Demote(ctx, DemoteArgs{})
		if !errors.Is(err, ErrStillPrimary) {
			t.Fatalf("Demote: got %v, want ErrStillPrimary", err)
		}
		for _, want := range []string{"could not connect to the source", "exit status 4", "pg_ctl: stop failed", "server is primary"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error: got %q, want it to contain %q", err, want)
			}
		}
		if res.After != RolePrimary || res.Changed {
			t.Errorf("result: got after %s, changed %v; want primary, false", res.After, res.Changed)
		}
		if got, want := stepNames(res), "read role,demote command,verify,stop command,verify"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
		if inRecovery(t, a) {
			t.Errorf("a: got in recovery, want still primary")
		}
	})

	t.Run("hung demote command killed, stop command stops the server", func(t *testing.T) {
		ma, err := New(Config{
			DSN:           a.DSN(),
			DemoteCommand: []string{"sleep", "60"},
			DemoteTimeout: 500 * time.Millisecond,
			StopCommand:   asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "fast", "-w", "-t", "60"),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := ma.Demote(ctx, DemoteArgs{})
		if err != nil {
			t.Fatalf("Demote: got %v, want nil (stopped)%s", err, dumpSteps(res))
		}
		if time.Since(start) > time.Minute {
			t.Errorf("Demote took %s: the hung command was not killed at its timeout", time.Since(start))
		}
		if res.Before != RolePrimary || res.After != RoleStopped || !res.Changed {
			t.Errorf("result: got before %s, after %s, changed %v; want primary, stopped, true", res.Before, res.After, res.Changed)
		}
		if len(res.Steps) < 2 || !strings.Contains(res.Steps[1].Err, "no exit within 500ms") {
			t.Errorf("demote step: got %s, want a timeout", dumpSteps(res))
		}
		if err := a.TryExec("SELECT 1"); err == nil {
			t.Errorf("connect after the stop command: got nil, want refused")
		}
		role, err := ma.Role(ctx)
		if role != RoleStopped || err != nil {
			t.Errorf("Role: got %s, %v; want stopped, nil", role, err)
		}

		// A stopped server needs no demotion, and cannot be promoted.
		res, err = ma.Demote(ctx, DemoteArgs{})
		if err != nil || res.Changed || res.Before != RoleStopped || stepNames(res) != "read role" {
			t.Errorf("Demote of a stopped server: got %+v, %v; want a no-op", res, err)
		}
		res, err = ma.Promote(ctx, 0, true)
		if err == nil || errors.Is(err, ErrTooFarBehind) || !strings.Contains(err.Error(), "dbrole: promote 127.0.0.1:") ||
			!strings.Contains(err.Error(), ": connect: ") {
			t.Errorf("Promote of a stopped server: got %v, want a connect error", err)
		}
		if res.Before != RoleStopped || res.Changed {
			t.Errorf("Promote of a stopped server: got before %s, changed %v; want stopped, false", res.Before, res.Changed)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("stopped old primary rejoins", func(t *testing.T) {
		// a is stopped (the last step), b runs again as the primary.
		b.Start(t)
		b.Exec(t, "INSERT INTO calls VALUES (4000, 'b is primary again')")
		ma, err := New(Config{
			DSN:           a.DSN(),
			DemoteCommand: []string{scriptPath(t)},
			DemoteTimeout: 3 * time.Minute,
			StopCommand:   asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "fast", "-w"),
			Env:           []string{"PGDATA=" + a.DataDir, "PG_CTL_OPTS=-p " + strconv.Itoa(a.Port), "PG_START_TIMEOUT=120"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ma.Stop(ctx, DemoteArgs{})
		if err != nil || res.Changed || res.Before != RoleStopped || stepNames(res) != "read role" {
			t.Errorf("Stop of a stopped server: got %+v, %v; want a no-op", res, err)
		}
		res, err = ma.Rejoin(ctx, DemoteArgs{Node: "node-a", PeerHost: "127.0.0.1", PeerPort: b.Port})
		if err != nil {
			t.Fatalf("Rejoin: %v%s", err, dumpSteps(res))
		}
		if res.Before != RoleStopped || res.After != RoleStandby || !res.Changed {
			t.Fatalf("result: got before %s, after %s, changed %v; want stopped, standby, true%s",
				res.Before, res.After, res.Changed, dumpSteps(res))
		}
		if got, want := stepNames(res), "read role,demote command,verify"; got != want {
			t.Errorf("steps: got %s, want %s%s", got, want, dumpSteps(res))
		}
		// Rewound: a's own write since the timelines diverged is gone, b's
		// arrive.
		waitCount(t, a, "SELECT count(*) FROM calls WHERE id = 4000", 1)
		waitCount(t, a, "SELECT count(*) FROM calls WHERE id = 3000", 0)

		// Rejoining a standby is a no-op; Stop stops a primary.
		res, err = ma.Rejoin(ctx, DemoteArgs{})
		if err != nil || res.Changed || res.Before != RoleStandby || stepNames(res) != "read role" {
			t.Errorf("Rejoin of a standby: got %+v, %v; want a no-op", res, err)
		}
		mb, err := New(Config{DSN: b.DSN(), StopCommand: asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", b.DataDir, "-m", "fast", "-w")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err = mb.Stop(ctx, DemoteArgs{})
		if err != nil || !res.Changed || res.Before != RolePrimary || res.After != RoleStopped || stepNames(res) != "read role,stop command,verify" {
			t.Errorf("Stop of a primary: got %+v, %v; want primary to stopped%s", res, err, dumpSteps(res))
		}
		if _, err := mb.Rejoin(ctx, DemoteArgs{}); err == nil || !strings.Contains(err.Error(), "no demote_command") {
			t.Errorf("Rejoin without a demote command: got %v, want an error naming demote_command", err)
		}

		// As after a release: b stopped, and a, its standby, promoted only
		// a moment after the rejoin began. pg-demote.sh, told
		// PBXHA_ACTION=rejoin, waits for the promotion before it rewinds.
		mb, err = New(Config{
			DSN:           b.DSN(),
			DemoteCommand: []string{scriptPath(t)},
			DemoteTimeout: 3 * time.Minute,
			StopCommand:   []string{"false"},
			Env:           []string{"PGDATA=" + b.DataDir, "PG_CTL_OPTS=-p " + strconv.Itoa(b.Port), "PG_START_TIMEOUT=120"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		promoted := make(chan error, 1)
		go func() {
			time.Sleep(time.Second)
			promoted <- a.TryExec("SELECT pg_promote()")
		}()
		res, err = mb.Rejoin(ctx, DemoteArgs{Node: "node-b", PeerHost: "127.0.0.1", PeerPort: a.Port})
		if perr := <-promoted; perr != nil {
			t.Fatalf("promote a: %v", perr)
		}
		if err != nil || res.After != RoleStandby {
			t.Fatalf("Rejoin before the peer's promotion: got %s, %v; want standby%s", res.After, err, dumpSteps(res))
		}
		if out := res.Steps[1].Output; !strings.Contains(out, "waiting for the new primary to leave recovery") {
			t.Errorf("demote command output: got %q, want it to wait for the promotion", out)
		}
		a.Exec(t, "INSERT INTO calls VALUES (5000, 'a is primary once more')")
		waitCount(t, b, "SELECT count(*) FROM calls WHERE id = 5000", 1)
	})
}

// TestRoleRefusingWhileShuttingDown: a fast shutdown waits for each
// connected streaming standby to confirm the last WAL before the server
// exits; with that standby hung (as one cut off is), the server refuses new
// sessions all that time. Role says so with ErrRefusing, then RoleStopped
// once the standby answers again and the server has exited.
func TestRoleRefusingWhileShuttingDown(t *testing.T) {
	bin := pgBin(t)
	a := pgtest.StartPrimary(t, pgtest.Options{})
	b := a.StartStandby(t)
	a.Exec(t, "CREATE TABLE calls (id int PRIMARY KEY)")
	waitCount(t, b, "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'calls'", 1)
	m, err := New(Config{DSN: a.DSN(), StopCommand: []string{"false"}, ConnectTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Signal(t, syscall.SIGSTOP, pgtest.Whole)
	hung := true
	defer func() {
		if hung {
			b.Signal(t, syscall.SIGCONT, pgtest.Whole)
		}
	}()
	// Some WAL the standby has not confirmed.
	a.Exec(t, "INSERT INTO calls SELECT generate_series(1, 100)")
	argv := asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "fast", "-w", "-t", "60")
	stop := exec.Command(argv[0], argv[1:]...)
	if err := stop.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop.Wait() }()
	testenv.WaitForReason(t, 10*time.Second, "Role reporting a server that refuses sessions", func() (bool, string) {
		r, err := m.Role(context.Background())
		return errors.Is(err, ErrRefusing), fmt.Sprintf("%s, %v", r, err)
	})
	select {
	case err := <-stopped:
		t.Fatalf("pg_ctl stop returned (%v) while the standby was hung, want it to wait", err)
	default:
	}
	b.Signal(t, syscall.SIGCONT, pgtest.Whole)
	hung = false
	if err := <-stopped; err != nil {
		t.Fatalf("pg_ctl stop: %v", err)
	}
	if r, err := m.Role(context.Background()); r != RoleStopped || err != nil {
		t.Errorf("after the stop: got %s, %v; want stopped", r, err)
	}
}
