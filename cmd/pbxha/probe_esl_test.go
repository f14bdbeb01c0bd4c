package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl/esltest"
	"github.com/pbxha/pbxha/internal/testenv"
)

// runProbeESL runs `probe esl args...` built with newProbeESLCmd and returns
// stdout and the exit code run() would give.
func runProbeESL(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cmd := newProbeESLCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
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

func eslFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "esl", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func startESL(t *testing.T, opts esltest.Options) *esltest.Server {
	t.Helper()
	if opts.Responses == nil {
		opts.Responses = map[string]string{
			"status":           eslFixture(t, "status-1.10.txt"),
			"sofia status":     eslFixture(t, "sofia-status-tls-gateway-failed.txt"),
			"show calls count": eslFixture(t, "calls-count.txt"),
		}
	}
	s, err := esltest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProbeESL(t *testing.T) {
	ok := startESL(t, esltest.Options{})
	secret := startESL(t, esltest.Options{Password: "s3cret"})
	silent := startESL(t, esltest.Options{Fault: esltest.FaultSilent})
	notReady := startESL(t, esltest.Options{Responses: map[string]string{
		"status": eslFixture(t, "status-1.10-not-ready.txt"), "sofia status": eslFixture(t, "sofia-status-1.10.txt"),
	}})
	pwFile := filepath.Join(t.TempDir(), "esl.pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := testenv.FreeAddr(t)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // regexps the output must match
		wantConn int      // connections the server must have seen; 0: not checked
		server   *esltest.Server
	}{
		{
			name: "healthy with profiles and calls", server: ok, wantConn: 1,
			args: []string{ok.Addr(), "--profile", "internal", "--profile", "external", "--calls", "-n", "2", "-i", "10ms", "-t", "5s"},
			want: []string{
				`(?m)^127\.0\.0\.1:\d+ seq=1 ok FreeSWITCH ready, 3/1000 sessions, 3 calls, internal RUNNING, external RUNNING time=\d+\.\d{3} ms calls=3 idle_cpu=97\.43 max_sessions=1000 profiles_down=0 profiles_running=2 sessions=3 sessions_peak=5 sps=0 uptime_seconds=312\.034056$`,
				`(?m)^127\.0\.0\.1:\d+ seq=2 ok `,
				`2 sent, 2 answered, 2 passed, 0% loss, rtt min/avg/max`,
				`(?m)^profile internal RUNNING in_use=12 url=sip:mod_sofia@192\.0\.2\.10:5060 tls_url=sips:mod_sofia@192\.0\.2\.10:5061$`,
				`(?m)^gateway external::carrier1 FAIL_WAIT to=sip:trunk@carrier1\.example\.com \(retry: 28s\)$`,
			},
		},
		{
			name: "password file", server: secret,
			args: []string{secret.Addr(), "--password-file", pwFile, "-t", "5s"},
			want: []string{`seq=1 ok FreeSWITCH ready`},
		},
		{
			name: "wrong password is tried once", server: secret, wantCode: exitFailure,
			args: []string{secret.Addr(), "--password", "nope", "-n", "3", "-i", "10ms", "-t", "5s"},
			want: []string{
				`seq=1 failed ESL password rejected time=\d+\.\d{3} ms \(auth: esl: dial 127\.0\.0\.1:\d+: authentication failed: -ERR invalid\)`,
				`seq=2 failed not connected, next dial in `,
				`3 sent, 3 answered, 0 passed`,
			},
		},
		{
			name: "required profile missing", server: ok, wantCode: exitFailure,
			args: []string{ok.Addr(), "--profile", "wss", "-t", "5s"},
			want: []string{`seq=1 failed FreeSWITCH ready, 3/1000 sessions, wss absent .*\(bad_response: esl: check 127\.0\.0\.1:\d+: profile wss is not running`},
		},
		{
			name: "not ready", server: notReady, wantCode: exitFailure,
			args: []string{notReady.Addr(), "-t", "5s"},
			want: []string{`seq=1 failed FreeSWITCH not ready, 0/1000 sessions`},
		},
		{
			name: "degraded by session share", server: ok, wantCode: exitFailure,
			args: []string{ok.Addr(), "--max-sessions-share", "0.001", "-t", "5s"},
			want: []string{`seq=1 degraded FreeSWITCH ready, 3/1000 sessions.*exceed 0\.1% of max sessions`},
		},
		{
			name: "silent server times out", server: silent, wantCode: exitFailure,
			args: []string{silent.Addr(), "-t", "200ms"},
			want: []string{`seq=1 failed ESL did not answer in time \(timeout: .*no reply within \d+ms\)`, `1 sent, 0 answered, 0 passed, 100% loss`},
		},
		{
			name: "refused", wantCode: exitFailure,
			args: []string{closed, "-n", "2", "-i", "10ms"},
			want: []string{`seq=1 failed ESL connection refused \(refused: `, `seq=2 failed ESL connection refused`},
		},
		{name: "both password flags", wantCode: exitUsage, args: []string{ok.Addr(), "--password", "a", "--password-file", pwFile}},
		{name: "two addresses", wantCode: exitUsage, args: []string{"a:1", "b:2"}},
		{name: "share out of range", wantCode: exitUsage, args: []string{ok.Addr(), "--max-sessions-share", "2"}},
		{name: "bad count", wantCode: exitUsage, args: []string{ok.Addr(), "-n", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := 0
			if tt.server != nil {
				before = tt.server.Connections()
			}
			out, code := runProbeESL(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("got output:\n%s\nwant it to match %s", out, re)
				}
			}
			if tt.wantConn > 0 {
				if got := tt.server.Connections() - before; got != tt.wantConn {
					t.Errorf("got %d connections, want %d", got, tt.wantConn)
				}
			}
			if strings.Contains(tt.name, "tried once") {
				if _, bad := tt.server.Logins(); bad != 1 {
					t.Errorf("got %d rejected logins, want 1", bad)
				}
			}
		})
	}
}

func TestWithDefaultPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.2", "10.0.0.2:8021"},
		{"10.0.0.2:9000", "10.0.0.2:9000"},
		{"fs.example.com", "fs.example.com:8021"},
		{"::1", "[::1]:8021"},
		{"[::1]", "[::1]:8021"},
		{"[::1]:8022", "[::1]:8022"},
	}
	for _, tt := range tests {
		if got := withDefaultPort(tt.in, "8021"); got != tt.want {
			t.Errorf("withDefaultPort(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
