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
	"github.com/pbxha/pbxha/test/pgtest"
)

// runProbePG runs `probe pg args...` built with newProbePGCmd and returns
// stdout and the exit code run() would give.
func runProbePG(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cmd := newProbePGCmd(g)
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

func TestProbePG(t *testing.T) {
	prim := pgtest.StartPrimary(t, pgtest.Options{})
	stby := prim.StartStandby(t)

	closedDSN := "postgres://u@" + testenv.FreeAddr(t) + "/db?sslmode=disable"

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // regexps the output must match
	}{
		{"primary", []string{prim.DSN(), "--expect-role", "primary", "-n", "2", "-i", "10ms", "-t", "5s"}, exitOK, []string{
			`(?m)^127\.0\.0\.1:\d+/postgres seq=1 ok primary, wal [0-9A-F]+/[0-9A-F]+, .*write \d+\.\d ms time=`,
			`(?m)^127\.0\.0\.1:\d+/postgres seq=2 ok primary`,
			`in_recovery=0 `, `wal_lsn=\d`, `write_latency_seconds=`,
			`2 sent, 2 answered, 2 passed, 0% loss`,
		}},
		{"standby", []string{stby.DSN(), "--expect-role", "standby", "-t", "5s"}, exitOK, []string{
			// The lag is what the standby has not replayed yet: usually under
			// 1 KiB, but a busy machine can leave a few KiB.
			`seq=1 ok standby, replay lag (\d+ B|\d+\.\d [KMG]iB), delay \d+\.\ds`, `in_recovery=1 `, `lag_bytes=`,
			`1 sent, 1 answered, 1 passed`,
		}},
		{"role mismatch", []string{stby.DSN(), "--expect-role", "primary", "-t", "5s"}, exitFailure, []string{
			`seq=1 failed standby, expected primary time=.*\(bad_response: pg: check .*: role standby, expected primary\)`,
			`1 sent, 1 answered, 0 passed`,
		}},
		{"refused", []string{closedDSN, "-t", "5s"}, exitFailure, []string{
			`seq=1 failed connection refused \(refused: pg: connect `,
			`1 sent, 0 answered, 0 passed, 100% loss`,
		}},
		{"bad role", []string{prim.DSN(), "--expect-role", "master"}, exitUsage, nil},
		{"bad table", []string{prim.DSN(), "--table", "a.b.c"}, exitUsage, nil},
		{"no dsn", nil, exitUsage, nil},
		{"bad count", []string{prim.DSN(), "-n", "0"}, exitUsage, nil},
	}
	t.Run("lists standbys", func(t *testing.T) {
		want := "standby " + stby.Name + " addr=127.0.0.1 state=streaming sync=async replay="
		testenv.WaitForReason(t, 30*time.Second, fmt.Sprintf("a line starting %q", want), func() (bool, string) {
			out, code := runProbePG(t, prim.DSN(), "-t", "5s")
			return code == exitOK && strings.Contains(out, want), fmt.Sprintf("exit %d, output:\n%s", code, out)
		})
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runProbePG(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("output: got\n%s\nwant a match for %s", out, re)
				}
			}
		})
	}
}
