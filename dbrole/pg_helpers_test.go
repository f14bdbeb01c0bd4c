package dbrole

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/pgtest"
)

// pgBin returns the directory of pg_ctl.
func pgBin(t *testing.T) string { return pgtest.BinDir(t) }

// asOwner prefixes argv so that it runs as the clusters' owner.
func asOwner(t *testing.T, argv ...string) []string { return pgtest.AsOwner(t, argv...) }

// scriptPath is the example demote script.
func scriptPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "configs", "pg-demote.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// query runs sql on a new connection to c and scans one row.
func query(c *pgtest.Cluster, sql string, dest ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// waitCount waits until sql (a count) returns want on c.
func waitCount(t *testing.T, c *pgtest.Cluster, sql string, want int64) {
	t.Helper()
	testenv.WaitForReason(t, 60*time.Second, c.Name+": "+sql, func() (bool, string) {
		var n int64
		if err := query(c, sql, &n); err != nil {
			return false, err.Error()
		}
		return n == want, "count " + strconv.FormatInt(n, 10)
	})
}

// inRecovery reads pg_is_in_recovery() on c.
func inRecovery(t *testing.T, c *pgtest.Cluster) bool {
	t.Helper()
	var r bool
	if err := query(c, "SELECT pg_is_in_recovery()", &r); err != nil {
		t.Fatalf("%s: pg_is_in_recovery: %v", c.Name, err)
	}
	return r
}

// stepNames lists a result's step names.
func stepNames(r Result) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, st.Name)
	}
	return strings.Join(s, ",")
}

// dumpSteps renders the steps for a failure message.
func dumpSteps(r Result) string {
	var b strings.Builder
	for _, st := range r.Steps {
		b.WriteString("\n  " + st.Name + " (" + st.Duration.String() + ")")
		if st.Err != "" {
			b.WriteString(" err: " + st.Err)
		}
		if st.Output != "" {
			b.WriteString("\n    output: " + strings.ReplaceAll(st.Output, "\n", "\n    "))
		}
	}
	return b.String()
}
