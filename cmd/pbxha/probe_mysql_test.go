package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/mariadbtest"
)

// runProbeMySQL runs `probe mysql args...` and returns stdout and the exit
// code run() would give.
func runProbeMySQL(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cmd := newProbeMySQLCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	code := exitOK
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("error: got %v (%T), want an *exitError", err, err)
		}
		code = ee.code
	}
	return out.String(), code
}

func TestProbeMySQL(t *testing.T) {
	prim := mariadbtest.StartPrimary(t, mariadbtest.Options{})
	repl := prim.StartReplica(t)
	closedDSN := "u@tcp(" + testenv.FreeAddr(t) + ")/db"

	t.Run("lists replicas", func(t *testing.T) {
		testenv.WaitForReason(t, 30*time.Second, "a replica line", func() (bool, string) {
			out, code := runProbeMySQL(t, prim.DSN(), "-t", "5s")
			return code == exitOK && regexp.MustCompile(`(?m)^replica addr=127\.0\.0\.1:\d+ state=`).MatchString(out), fmt.Sprintf("exit %d, output:\n%s", code, out)
		})
	})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"primary", []string{prim.DSN(), "--expect-role", "primary", "-n", "2", "-i", "10ms", "-t", "5s"}, exitOK, []string{
			`(?m)^127\.0\.0\.1:\d+/pbxha seq=1 ok primary, gtid 0-1-\d+, 1 replica, write \d+\.\d ms time=`,
			`(?m)^127\.0\.0\.1:\d+/pbxha seq=2 ok primary`,
			`read_only=0 `, `gtid_position=\d`, `write_latency_seconds=`,
			`2 sent, 2 answered, 2 passed, 0% loss`,
			`(?m)^mariadb 10\.\d+\.\d+\S*MariaDB\S* gtid_position=\d+ executed=0-1-\d+$`,
		}},
		{"replica", []string{repl.DSN(), "--expect-role", "replica", "-t", "5s"}, exitOK, []string{
			`seq=1 ok replica of 127\.0\.0\.1:\d+, io yes, sql yes, lag 0s, \d+ to apply`, `replica=1 `, `io_running=1 `,
			`(?m)^source 127\.0\.0\.1:\d+ io=Yes sql=Yes received=0-1-\d+$`,
		}},
		{"role mismatch", []string{repl.DSN(), "--expect-role", "primary", "-t", "5s"}, exitFailure, []string{
			`seq=1 failed replica, expected primary time=.*\(bad_response: mysql: check .*: role replica, expected primary\)`,
		}},
		{"refused", []string{closedDSN, "-t", "5s"}, exitFailure, []string{
			`seq=1 failed connection refused \(refused: mysql: connect `,
			`1 sent, 0 answered, 0 passed, 100% loss`,
		}},
		{"bad role", []string{prim.DSN(), "--expect-role", "standby"}, exitUsage, nil},
		{"no database", []string{"u@tcp(127.0.0.1:1)/"}, exitUsage, nil},
		{"no dsn", nil, exitUsage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runProbeMySQL(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("output: got\n%s\nwant a match for %s", out, re)
				}
			}
			if strings.Contains(out, mariadbtest.PbxhaPassword+"@") {
				t.Errorf("output holds the password:\n%s", out)
			}
		})
	}
}
