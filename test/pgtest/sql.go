package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSN returns a URL for the postgres superuser over TCP at Net.Host
// (loopback by default).
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", net.JoinHostPort(c.Net.Host, strconv.Itoa(c.Port)))
}

// connect opens a connection for the helpers, from inside the server's
// namespace when it has one.
func (c *Cluster) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.DSN())
	if err != nil {
		return nil, err
	}
	if c.Net.Namespace != "" {
		cfg.DialFunc = dialIn(c.Net.Namespace)
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Conn opens a connection that is closed in t.Cleanup.
func (c *Cluster) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", c.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// Exec runs sql on a new connection and fails the test on error.
func (c *Cluster) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := c.TryExec(sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
}

// TryExec runs sql on a new connection and returns its error.
func (c *Cluster) TryExec(sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("exec %q: %w", sql, err)
	}
	return nil
}

// QueryRow runs sql on a new connection and scans its single row into dest.
func (c *Cluster) QueryRow(t testing.TB, sql string, args []any, dest ...any) {
	t.Helper()
	if err := c.TryQueryRow(sql, args, dest...); err != nil {
		t.Fatalf("pgtest: %s: %v", c.Name, err)
	}
}

// TryQueryRow is QueryRow returning its error, for polling.
func (c *Cluster) TryQueryRow(sql string, args []any, dest ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		return fmt.Errorf("%q: %w", sql, err)
	}
	return nil
}

// Log returns the server log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.env.root, c.Name+".log"))
	return string(b)
}
