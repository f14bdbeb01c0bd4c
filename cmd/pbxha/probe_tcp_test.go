package main

import (
	"bytes"
	"errors"
	"net"
	"regexp"
	"testing"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/spf13/cobra"
)

// runOneShotCmd runs a probe subcommand built by newCmd with args and returns
// its output and the exit code run() would give.
func runOneShotCmd(t *testing.T, newCmd func(*globals) *cobra.Command, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cmd := newCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	code := exitOK
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = exitUsage
	}
	return out.String(), code
}

func TestProbeTCPCmd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)
	up := ln.Addr().String()
	down := testenv.FreeAddr(t)
	q := regexp.QuoteMeta
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // regexp over the whole output
	}{
		{"listening", []string{"-n", "2", "-i", "10ms", "-t", "5s", up}, exitOK,
			`^` + q(up) + ` seq=1 ok connected to ` + q(up) + ` time=[0-9.]+ ms\n` +
				q(up) + ` seq=2 ok connected to ` + q(up) + ` time=[0-9.]+ ms\n` +
				`--- ` + q(up) + ` ---\n2 sent, 2 answered, 2 passed, 0% loss, rtt min/avg/max = [0-9./]+ ms\n$`},
		{"refused", []string{"-t", "5s", down}, exitFailure,
			`^` + q(down) + ` seq=1 failed connection refused \(refused: tcp: connect ` + q(down) + `: connect: connection refused\)\n` +
				`--- ` + q(down) + ` ---\n1 sent, 0 answered, 0 passed, 100% loss\n$`},
		{"no port", []string{"127.0.0.1"}, exitUsage, `^$`},
		{"no argument", nil, exitUsage, `^$`},
		{"bad count", []string{"-n", "0", up}, exitUsage, `^$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runOneShotCmd(t, newProbeTCPCmd, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (output %q)", code, tt.wantCode, out)
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(out) {
				t.Errorf("output: got %q, want match for %q", out, tt.wantOut)
			}
		})
	}
}
