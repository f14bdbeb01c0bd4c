package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/sipcheck/siptest"
	"github.com/spf13/cobra"
)

// runSIPCmd runs `pbxha probe sip ARGS` and returns stdout, stderr and the
// exit code run() gives.
func runSIPCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	cmd := newProbeSIPCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
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
	return out.String(), errOut.String(), code
}

func TestProbeSIPCmd(t *testing.T) {
	srv := siptest.Start(t, siptest.Options{Transports: []string{"udp", "tcp", "tls"}})
	ca, err := srv.Cert().WriteCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closed := "sip:" + testenv.FreeAddr(t)
	cases := []struct {
		name  string
		setup func()
		args  []string
		code  int
		want  []string // regexps that must match stdout
	}{
		{name: "three answers over udp", setup: func() { srv.Answer(200, "OK") },
			args: []string{srv.URI("udp"), "-n", "3", "-i", "10ms"}, code: exitOK,
			want: []string{`seq=1 ok 200 OK time=\d+\.\d{3} ms`, `seq=3 ok 200 OK`,
				`3 sent, 3 answered, 3 passed, 0% loss, rtt min/avg/max = [\d.]+/[\d.]+/[\d.]+ ms`}},
		{name: "tcp fresh connection", setup: func() { srv.Answer(200, "OK") },
			args: []string{srv.URI("tcp"), "--fresh-connection", "-n", "2", "-i", "0s"}, code: exitOK,
			want: []string{`2 sent, 2 answered, 2 passed, 0% loss`}},
		{name: "tls with CA file", setup: func() { srv.Answer(200, "OK") },
			args: []string{srv.URI("tls"), "--tls-ca", ca}, code: exitOK, want: []string{`seq=1 ok 200 OK`}},
		{name: "tls without trust", setup: func() { srv.Answer(200, "OK") },
			args: []string{srv.URI("tls")}, code: exitFailure,
			want: []string{`seq=1 failed tls handshake failed \(tls: `, `1 sent, 0 answered, 0 passed, 100% loss`}},
		{name: "tls insecure", setup: func() { srv.Answer(200, "OK") },
			args: []string{srv.URI("tls"), "--tls-insecure"}, code: exitOK, want: []string{`seq=1 ok 200 OK`}},
		{name: "503 is degraded", setup: func() { srv.Answer(503, "Service Unavailable") },
			args: []string{srv.URI("udp")}, code: exitFailure,
			want: []string{`seq=1 degraded 503 Service Unavailable time=`, `1 sent, 1 answered, 0 passed, 0% loss`}},
		{name: "404 accepted", setup: func() { srv.Answer(404, "Not Found") },
			args: []string{srv.URI("tcp"), "--accept", "2xx,401,403,404"}, code: exitOK, want: []string{`seq=1 ok 404 Not Found`}},
		{name: "silent times out", setup: srv.Silent,
			args: []string{srv.URI("udp"), "-t", "300ms"}, code: exitFailure,
			want: []string{`seq=1 failed no reply within (2[5-9]\d|300)ms \(timeout: `, `1 sent, 0 answered, 0 passed, 100% loss$`}},
		{name: "closed port refused", args: []string{closed, "-t", "5s"}, code: exitFailure,
			want: []string{`seq=1 failed connection refused \(refused: `}},
		{name: "bad uri", args: []string{"http://x"}, code: exitUsage},
		{name: "bad codes", args: []string{srv.URI("udp"), "--accept", "2xx,abc"}, code: exitUsage},
		{name: "overlapping codes", args: []string{srv.URI("udp"), "--accept", "5xx"}, code: exitUsage},
		{name: "no uri", args: []string{}, code: exitUsage},
		{name: "two uris", args: []string{srv.URI("udp"), srv.URI("tcp")}, code: exitUsage},
		{name: "zero count", args: []string{srv.URI("udp"), "-n", "0"}, code: exitUsage},
		{name: "unknown flag", args: []string{srv.URI("udp"), "--bogus"}, code: exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			out, errOut, code := runSIPCmd(t, tc.args...)
			if code != tc.code {
				t.Fatalf("got exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(`(?m)` + w).MatchString(out) {
					t.Errorf("got output\n%s\nwant a line matching %q", out, w)
				}
			}
		})
	}
}

// TestProbeSIPCmdKamailio runs the command against a real Kamailio.
func TestProbeSIPCmdKamailio(t *testing.T) {
	k := siptest.StartKamailio(t, func(uri string) error {
		p, err := sipcheck.New(sipcheck.Config{Target: uri, FreshConnection: true}, nil)
		if err != nil {
			return err
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if r := p.Check(ctx); r.Status != probe.OK {
			return fmt.Errorf("%s: %v", r.Status, r.Err)
		}
		return nil
	})
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			out, errOut, code := runSIPCmd(t, k.URI(tp), "-n", "2", "-i", "10ms")
			if code != exitOK {
				t.Fatalf("got exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !regexp.MustCompile(`2 sent, 2 answered, 2 passed, 0% loss`).MatchString(out) {
				t.Errorf("got output\n%s\nwant 2 passed", out)
			}
		})
	}
}
