package dbrole

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoteScriptParameters runs configs/pg-demote.sh with bad parameters:
// it must exit 2 with a clear message before touching anything.
func TestDemoteScriptParameters(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyBin := t.TempDir()
	fullBin := t.TempDir()
	for _, prog := range []string{"pg_ctl", "pg_rewind", "psql"} {
		if err := os.WriteFile(filepath.Join(fullBin, prog), []byte("#!/bin/sh\nexit 99\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no PGDATA", nil, "pg-demote: PGDATA is not set (or set PG_CLUSTER)"},
		{"not a data directory", []string{"PGDATA=" + t.TempDir()}, "not a PostgreSQL data directory (no PG_VERSION)"},
		{"bad cluster name", []string{"PG_CLUSTER=main"}, "PG_CLUSTER=main: want VERSION/NAME, e.g. 15/main"},
		{"missing cluster", []string{"PG_CLUSTER=9/nonexistent"}, "/etc/postgresql/9/nonexistent/postgresql.conf not found"},
		{"no programs", []string{"PGDATA=" + dataDir, "PGBIN=" + emptyBin}, "PGBIN=" + emptyBin + ": pg_ctl not found (set PGBIN)"},
		{"no primary", []string{"PGDATA=" + dataDir, "PGBIN=" + fullBin}, "PRIMARY_CONNINFO is not set and pbxha passed no PBXHA_PEER_HOST"},
		{"bad timeout", []string{"PGDATA=" + dataDir, "PGBIN=" + fullBin, "PBXHA_PEER_HOST=127.0.0.1", "PG_STOP_TIMEOUT=1m"},
			"PG_STOP_TIMEOUT and PG_START_TIMEOUT must be whole seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(scriptPath(t))
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tc.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: got %v, want exit status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output: got %q, want it to contain %q", out, tc.want)
			}
		})
	}
}
