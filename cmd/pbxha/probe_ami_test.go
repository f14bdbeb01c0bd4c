package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami/amitest"
)

func TestProbeAMICmd(t *testing.T) {
	now := time.Now()
	srv, err := amitest.Start(amitest.Options{
		Users: map[string]string{"pbxha": "s3cret"},
		Status: amitest.Status{
			AsteriskVersion: "20.5.0", AMIVersion: "9.0.0",
			Startup: now.Add(-3*time.Hour - 30*time.Minute), Reload: now.Add(-time.Hour),
			CurrentCalls: 4, ProcessedCalls: -1, Location: time.Local,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.Addr()
	secretFile := filepath.Join(t.TempDir(), "ami.secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := regexp.QuoteMeta
	line := func(seq, status, suffix string) string {
		return q(addr) + ` seq=` + seq + ` ` + status + ` Asterisk 20\.5\.0 \(AMI 9\.0\.0\) up 3h, 4 calls` + suffix +
			` time=[0-9.]+ ms calls=4 since_reload_seconds=36[0-9][0-9] uptime_seconds=12[0-9]{3}\n`
	}
	tests := []struct {
		name     string
		args     []string
		env      string
		wantCode int
		wantOut  string
		logoff   bool // the session ends with Logoff
	}{
		{"secret file, three checks", []string{"-u", "pbxha", "--secret-file", secretFile, "-n", "3", "-i", "10ms", "-t", "5s", addr}, "", exitOK,
			`^` + line("1", "ok", "") + line("2", "ok", "") + line("3", "ok", "") +
				`--- ` + q(addr) + ` ---\n3 sent, 3 answered, 3 passed, 0% loss, rtt min/avg/max = [0-9./]+ ms\n$`, true},
		{"secret from the environment", []string{"-u", "pbxha", "-t", "5s", addr}, "s3cret", exitOK, `^` + line("1", "ok", ""), true},
		{"max calls reached", []string{"-u", "pbxha", "--secret", "s3cret", "--max-calls", "4", "-t", "5s", addr}, "", exitFailure,
			`^` + line("1", "degraded", ` \(max_calls 4 reached\)`), true},
		{"wrong secret", []string{"-u", "pbxha", "--secret", "nope", "-t", "5s", addr}, "", exitFailure,
			`^` + q(addr) + ` seq=1 failed login rejected time=[0-9.]+ ms \(auth: ami: login ` + q(addr) + ` as "pbxha": credentials rejected: Authentication failed\)\n`, false},
		{"no user", []string{addr}, "", exitUsage, `^$`, false},
		{"missing secret file", []string{"-u", "pbxha", "--secret-file", "/nonexistent/ami.secret", addr}, "", exitUsage, `^$`, false},
		{"bad address", []string{"-u", "pbxha", "localhost"}, "", exitUsage, `^$`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(amiSecretEnv, tt.env)
			before := srv.Accepted()
			out, code := runOneShotCmd(t, newProbeAMICmd, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (output %q)", code, tt.wantCode, out)
			}
			if !regexp.MustCompile(tt.wantOut).MatchString(out) {
				t.Errorf("output: got %q, want match for %q", out, tt.wantOut)
			}
			if tt.wantCode != exitUsage {
				if got := srv.Accepted() - before; got != 1 {
					t.Errorf("connections: got %d, want 1 (one session for all checks)", got)
				}
			}
			if acts := srv.Actions(); tt.logoff && (len(acts) == 0 || acts[len(acts)-1] != "Logoff") {
				t.Errorf("actions: got %q, want the last to be Logoff", acts)
			}
		})
	}
}
