package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/netlab"
)

// agreeCase is one config fed to config check and to the start-up path.
type agreeCase struct {
	name    string
	path    string
	fixture bool     // a file under configs/: its verdict depends on this host (files under /etc, addresses)
	want    []string // not a fixture: the problem lines (DIR for the case's directory); nil: accepted
}

// TestConfigCheckAgreesWithRun feeds every config under configs/ (the
// invalid and host-invalid fixtures, the valid ones, the example and the
// default) and the cases of agreeCases to `pbxha config check` and to the
// daemon's start-up path, and requires the same verdict: both refuse with
// the same problems, or both accept. A refused config goes through
// `pbxha run`, which must exit 2 with the problems before it starts
// anything. An accepted one goes through runDaemon under a context that is
// already cancelled: every part the daemon builds (supervisor, alert
// delivery, probes, the pair's key, sockets, epoch and PBX commands, the
// control socket) must build, and the daemon then stops at once.
func TestConfigCheckAgreesWithRun(t *testing.T) {
	clearPBXHAEnv(t)
	t.Setenv("NOTIFY_SOCKET", "")
	var cases []agreeCase
	for _, pattern := range []string{"invalid-*.yaml", "host-invalid-*.yaml", "valid-*.yaml"} {
		files, err := filepath.Glob(filepath.Join("../../configs/testdata", pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("configs/testdata/%s: got %d files (err %v), want some", pattern, len(files), err)
		}
		for _, f := range files {
			cases = append(cases, agreeCase{name: filepath.Base(f), path: f, fixture: true})
		}
	}
	examples, _ := filepath.Glob("../../configs/examples/*.yaml")
	for _, f := range append([]string{"../../configs/pbxha.example.yaml", "../../configs/default.yaml"}, examples...) {
		cases = append(cases, agreeCase{name: filepath.Base(f), path: f, fixture: true})
	}
	cases = append(cases, agreeCases(t)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Dir(tc.path)
			var out, errOut bytes.Buffer
			code := run([]string{"-c", tc.path, "config", "check"}, &out, &errOut)
			checked := checkProblems(t, code, out.String(), errOut.String())
			if !tc.fixture {
				if got := strings.ReplaceAll(strings.Join(checked, "\n"), dir, "DIR"); got != strings.Join(tc.want, "\n") {
					t.Errorf("config check: got problems\n%s\nwant\n%s", got, strings.Join(tc.want, "\n"))
				}
			}
			if checked != nil {
				out.Reset()
				errOut.Reset()
				code := run([]string{"-c", tc.path, "run"}, &out, &errOut)
				started := runProblems(t, code, out.String(), errOut.String())
				if !slices.Equal(started, checked) {
					t.Errorf("run: got problems\n%s\nwant those of config check\n%s", strings.Join(started, "\n"), strings.Join(checked, "\n"))
				}
				return
			}
			if tc.fixture {
				// An accepted fixture names the host's own state_dir and
				// control socket; the daemon gets temporary ones instead.
				tmp, err := os.MkdirTemp("", "pbxha-agree")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(tmp) })
				t.Setenv("PBXHA_STATE_DIR", filepath.Join(tmp, "state"))
				t.Setenv("PBXHA_CONTROL_SOCKET", filepath.Join(tmp, "s.sock"))
			}
			g := &globals{configPath: tc.path, stdout: &out, stderr: &errOut}
			cfg, err := startupConfig(g)
			if err != nil {
				t.Fatalf("start-up: got %v, want the config that config check accepted", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := runDaemon(ctx, g, cfg); err != nil {
				t.Errorf("runDaemon refused what config check accepted: %v\nlog:\n%s", err, errOut.String())
			} else if !strings.Contains(errOut.String(), "pbxha started") {
				t.Errorf("runDaemon: got log\n%s\nwant it to have started", errOut.String())
			}
		})
	}
}

// checkProblems returns the problems `pbxha config check` printed, or nil
// when it said ok.
func checkProblems(t *testing.T, code int, stdout, stderr string) []string {
	t.Helper()
	if code == exitOK {
		if !strings.HasSuffix(stdout, ": ok\n") || stderr != "" {
			t.Fatalf("config check: exit 0 with stdout %q stderr %q, want FILE: ok and nothing else", stdout, stderr)
		}
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if code != exitUsage || stdout != "" || last != fmt.Sprintf("pbxha: config check: %d problem(s) found", len(lines)-1) {
		t.Fatalf("config check: got exit %d stdout %q stderr %q, want exit 2 and the problems", code, stdout, stderr)
	}
	return lines[:len(lines)-1]
}

// runProblems returns the problems `pbxha run` refused to start with.
func runProblems(t *testing.T, code int, stdout, stderr string) []string {
	t.Helper()
	const head = "pbxha: invalid configuration:\n"
	if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, head) {
		t.Fatalf("run: got exit %d stdout %q stderr %q, want exit 2 and %q with the problems", code, stdout, stderr, head)
	}
	return strings.Split(strings.TrimSuffix(strings.TrimPrefix(stderr, head), "\n"), "\n")
}

// agreeCases are the configs config check used to accept and run then
// refused, one problem per start, and some that both accept. Each gets its
// own directory (short: it holds the control socket) with a good key,
// secrets and free heartbeat ports.
func agreeCases(t *testing.T) []agreeCase {
	t.Helper()
	type spec struct {
		name  string
		yaml  string
		setup func(dir string) error
		want  []string
	}
	base := func(extra string) string {
		return "state_dir: DIR/state\ncontrol:\n  socket: DIR/s.sock\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n" + extra
	}
	pair := func(peer, extra string) string {
		a, b := localPort(t), localPort(t)
		return base(extra) + fmt.Sprintf("peer:\n  paths: [{local: \"127.0.0.1:%d\", peer: \"127.0.0.1:%d\"}]\n  key_file: DIR/pbxha.key\n%s"+
			"failover:\n  tie_breakers: [\"127.0.0.1:53\"]\n", a, b, peer)
	}
	const esl = "  esl:\n    - password_file: DIR/esl.password\n"
	specs := []spec{
		{name: "single, minimal", yaml: base("")},
		{name: "single, every secret from a file", yaml: base(esl +
			"  ami:\n    - {username: pbxha, secret_file: DIR/ami.secret}\n" +
			"alerts:\n  endpoints:\n    - {url: \"http://127.0.0.1:9/\", secret_file: DIR/alert.secret}\n" +
			"pbx:\n  supervise: {mode: exec, command: [/bin/true], user: root, group: root}\n")},
		{name: "pair with takeover_esl", yaml: pair("", esl+"pbx:\n  takeover_esl: [sofia recover]\n")},
		{name: "missing password_file", yaml: base("  esl:\n    - password_file: DIR/none\n"),
			want: []string{"DIR/t.yaml: probes.esl[0].password_file: cannot read DIR/none: no such file or directory"}},
		{name: "missing secret_file", yaml: base("  ami:\n    - {username: pbxha, secret_file: DIR/none}\n"),
			want: []string{"DIR/t.yaml: probes.ami[0].secret_file: cannot read DIR/none: no such file or directory"}},
		{name: "missing alert secret_file", yaml: base("alerts:\n  endpoints:\n    - {url: \"http://127.0.0.1:9/\", secret_file: DIR/none}\n"),
			want: []string{"DIR/t.yaml: alerts.endpoints[0].secret_file: cannot read DIR/none: no such file or directory"}},
		{name: "missing key_file", yaml: strings.Replace(pair("", ""), "DIR/pbxha.key", "DIR/none.key", 1),
			want: []string{"DIR/t.yaml: peer.key_file: cannot read DIR/none.key: no such file or directory (pbxha keygen writes a key)"}},
		{name: "key_file mode 0644", yaml: pair("", ""),
			setup: func(dir string) error { return os.Chmod(filepath.Join(dir, "pbxha.key"), 0o644) },
			want:  []string{"DIR/t.yaml: peer.key_file: DIR/pbxha.key: mode 0644 lets group or others access the key; chmod 600 it"}},
		{name: "takeover_esl password_file missing", yaml: pair("", "  esl:\n    - password_file: DIR/none\npbx:\n  takeover_esl: [sofia recover]\n"),
			want: []string{"DIR/t.yaml: probes.esl[0].password_file: cannot read DIR/none: no such file or directory"}},
		{name: "supervise user missing", yaml: base("pbx:\n  supervise: {mode: exec, command: [/bin/true], user: no-such-user-pbxha}\n"),
			want: []string{`DIR/t.yaml: pbx.supervise.user: "no-such-user-pbxha" is not a user of this host`}},
		{name: "supervise group missing", yaml: base("pbx:\n  supervise: {mode: exec, command: [/bin/true], group: no-such-group-pbxha}\n"),
			want: []string{`DIR/t.yaml: pbx.supervise.group: "no-such-group-pbxha" is not a group of this host`}},
		{name: "bare vip address", yaml: pair("", "") + "vip: {mode: netlink, interface: lo, address: 192.0.2.100}\n",
			want: []string{`DIR/t.yaml: vip.address: "192.0.2.100" must be an address with its prefix length, e.g. 192.0.2.100/32`}},
		{name: "vip.refresh 50ms", yaml: pair("", "") + "vip: {mode: script, script: {up: [/bin/true], down: [/bin/true]}, refresh: 50ms}\n",
			want: []string{"DIR/t.yaml: vip.refresh: 50ms is below 100ms and would flood the segment (0: no refresh)"}},
		{name: "vip interface missing", yaml: pair("", "") + "vip: {mode: netlink, interface: nonexistent0, address: 192.0.2.100/32}\n",
			want: []string{`DIR/t.yaml: vip.interface: "nonexistent0" is not an interface of this host (Link not found)`}},
		{name: "corrupt epoch", yaml: pair("", ""),
			setup: func(dir string) error {
				if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(dir, "state", "epoch"), []byte("x\n"), 0o600)
			},
			want: []string{`DIR/t.yaml: state_dir: DIR/state/epoch: corrupt content "x": want one decimal number`}},
		{name: "epoch at the largest uint64", yaml: pair("", ""),
			setup: func(dir string) error {
				if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(dir, "state", "epoch"), []byte("18446744073709551615\n"), 0o600)
			},
			want: []string{`DIR/t.yaml: state_dir: DIR/state/epoch: corrupt content: epoch 18446744073709551615 is above the largest, 4611686018427387904, and the next takeover could wrap to 0`}},
		{name: "key_file is a FIFO", yaml: pair("", ""),
			setup: func(dir string) error {
				key := filepath.Join(dir, "pbxha.key")
				if err := os.Remove(key); err != nil {
					return err
				}
				return syscall.Mkfifo(key, 0o600)
			},
			want: []string{"DIR/t.yaml: peer.key_file: DIR/pbxha.key: not a regular file (a FIFO)"}},
		{name: "password_file is a FIFO", yaml: base("  esl:\n    - password_file: DIR/fifo\n"),
			setup: func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600) },
			want:  []string{"DIR/t.yaml: probes.esl[0].password_file: DIR/fifo is not a regular file"}},
		{name: "control.socket is a regular file", yaml: base(""),
			setup: func(dir string) error { return os.WriteFile(filepath.Join(dir, "s.sock"), []byte("keep me\n"), 0o600) },
			want:  []string{"DIR/t.yaml: control.socket: DIR/s.sock exists and is a regular file, not a socket; pbxha will not remove it: move it away or choose another control.socket"}},
		{name: "database env entry", yaml: pair("", "  pg:\n    - dsn: host=127.0.0.1\n") + "database:\n  dsn: host=127.0.0.1\n  stop_command: [/bin/true]\n  env: [PGDATA]\n",
			want: []string{`DIR/t.yaml: database.env: hooks: env entry 0: want KEY=VALUE`}},
		{name: "esl password of two lines", yaml: base("  esl:\n    - password_file: DIR/two-lines\n"),
			want: []string{"DIR/t.yaml: probes.esl[0].password_file: DIR/two-lines holds more than one line; the secret must be a single line"}},
		{name: "tls on a tcp target", yaml: base("    - target: sip:127.0.0.1:5060;transport=tcp\n      tls: {server_name: pbx.example.com}\n"),
			want: []string{`DIR/t.yaml: probes.sip[1].tls: is set but "sip:127.0.0.1:5060;transport=tcp" uses tcp; add ;transport=tls or write a sips: URI`}},
	}
	var out []agreeCase
	for _, s := range specs {
		dir, err := os.MkdirTemp("", "pbxha-agree")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := failover.GenerateKey(filepath.Join(dir, "pbxha.key")); err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string]string{"esl.password": "ClueCon\n", "ami.secret": "s3cret\n", "alert.secret": "k\n", "two-lines": "a\nb\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if s.setup != nil {
			if err := s.setup(dir); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "t.yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(s.yaml, "DIR", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, agreeCase{name: s.name, path: path, want: s.want})
	}
	return out
}

// localPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func localPort(t *testing.T) int {
	t.Helper()
	p, err := netlab.FreePort(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
