package pgtest_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/pgtest"
)

func connectErr(dsn string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func TestPrimaryAndStandby(t *testing.T) {
	p := pgtest.StartPrimary(t, pgtest.Options{})
	s := p.StartStandby(t)

	if got, want := p.PID(t), p.PID(t); got <= 1 || got != want {
		t.Fatalf("primary pid: got %d, want a stable pid > 1", got)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(p.PID(t))); err != nil {
		t.Fatalf("primary pid %d: got %v, want a live process", p.PID(t), err)
	}

	p.Exec(t, "CREATE TABLE t (v int)")
	p.Exec(t, "INSERT INTO t VALUES (42)")
	testenv.WaitFor(t, 30*time.Second, "table replicated to the standby", func() bool {
		return s.TryExec("SELECT 1 FROM t") == nil
	})
	testenv.WaitFor(t, 30*time.Second, "row replicated to the standby", func() bool {
		var n int
		s.QueryRow(t, "SELECT count(*) FROM t WHERE v = 42", nil, &n)
		return n == 1
	})

	var inRecovery bool
	s.QueryRow(t, "SELECT pg_is_in_recovery()", nil, &inRecovery)
	if !inRecovery {
		t.Errorf("standby pg_is_in_recovery: got false, want true")
	}
	var name, state string
	p.QueryRow(t, "SELECT application_name, state FROM pg_stat_replication", nil, &name, &state)
	if name != s.Name {
		t.Errorf("pg_stat_replication application_name: got %q, want %q", name, s.Name)
	}
	err := s.TryExec("INSERT INTO t VALUES (1)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Errorf("write on standby: got %v, want SQLSTATE 25006", err)
	}
}

func TestSignalAndStop(t *testing.T) {
	p := pgtest.StartPrimary(t, pgtest.Options{})
	conn := p.Conn(t)

	tests := []struct {
		name  string
		scope pgtest.Scope
		// pooled reports whether an open connection keeps working while stopped.
		pooled bool
	}{
		{"postmaster", pgtest.Postmaster, true},
		{"whole cluster", pgtest.Whole, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.Signal(t, syscall.SIGSTOP, tc.scope)
			stopped := true
			defer func() {
				if stopped {
					p.Signal(t, syscall.SIGCONT, tc.scope)
				}
			}()
			if err := connectErr(p.DSN(), time.Second); !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("new connection while stopped: got %v, want a timeout", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := conn.Exec(ctx, "SELECT 1")
			cancel()
			if got := err == nil; got != tc.pooled {
				t.Errorf("open connection works while stopped: got %v (%v), want %v", got, err, tc.pooled)
			}
			p.Signal(t, syscall.SIGCONT, tc.scope)
			stopped = false
			if err := connectErr(p.DSN(), 10*time.Second); err != nil {
				t.Errorf("new connection after SIGCONT: got %v, want nil", err)
			}
			if !tc.pooled {
				conn = p.Conn(t) // the old one was dropped by its deadline
			}
		})
	}

	pid := p.PID(t)
	p.Stop(t)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d after Stop: got %v, want ESRCH", pid, err)
	}
	if err := connectErr(p.DSN(), 5*time.Second); err == nil || pgconn.Timeout(err) {
		t.Errorf("connect after Stop: got %v, want connection refused", err)
	}
	p.Start(t)
	if err := connectErr(p.DSN(), 10*time.Second); err != nil {
		t.Errorf("connect after restart: got %v, want nil", err)
	}
}
