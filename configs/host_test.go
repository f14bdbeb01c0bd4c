package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/sipcheck/siptest"
)

// TestHostFixtures loads every testdata/host-invalid-*.yaml: each is valid
// for Load, and Preflight refuses it with the problems of the golden .err
// file beside it.
func TestHostFixtures(t *testing.T) {
	cleanEnv(t)
	files, err := filepath.Glob("testdata/host-invalid-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("got %d host fixtures (err %v), want at least 1", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".err")
			if err != nil {
				t.Fatalf("every host fixture needs a .err file: %v", err)
			}
			if _, err := Load(file); err != nil {
				t.Fatalf("Load: got %v, want a config: a host fixture breaks no static rule", err)
			}
			c, err := Preflight(file)
			if c != nil {
				t.Errorf("got a config, want nil with the error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got error %v (%T), want *Error", err, err)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("got problems\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// hostFiles writes the files the host check cases name into a new
// directory and returns it: a good key, secrets and a CA bundle.
func hostFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := failover.GenerateKey(filepath.Join(dir, "pbxha.key")); err != nil {
		t.Fatal(err)
	}
	cert, err := siptest.NewCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"esl.password": "ClueCon\n", "ami.secret": "s3cret", "alert.secret": "hmac-key\n",
		"ca.pem": string(cert.PEM), "two-lines": "a\nb\n", "empty": "\n", "not-pem": "hello\n",
		"short.key": strings.Repeat("ab", 16) + "\n", "corrupt/epoch": "seven\n", "a-file": "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "short.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckHost runs Preflight on configs that name files, users and
// addresses of this host. DIR in a case stands for the directory that
// hostFiles filled.
func TestCheckHost(t *testing.T) {
	cleanEnv(t)
	const single = "state_dir: DIR/state\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"
	const pair = single + `peer:
  paths: [{local: "127.0.0.1:17946", peer: "127.0.0.1:17947"}]
  key_file: DIR/pbxha.key
failover:
  tie_breakers: ["127.0.0.1:53"]
`
	tests := []struct {
		name  string
		yaml  string
		setup func(t *testing.T, dir string) // changes files before the check
		want  string                         // the problems, DIR for the directory; empty: accepted
	}{
		{name: "single, nothing to read", yaml: single},
		{name: "every file readable", yaml: `state_dir: DIR/state
probes:
  sip:
    - target: sips:127.0.0.1:5061
      tls: {ca_file: DIR/ca.pem}
  esl:
    - password_file: DIR/esl.password
  ami:
    - {username: pbxha, secret_file: DIR/ami.secret}
alerts:
  endpoints:
    - {url: "https://chat.example.com/x", secret_file: DIR/alert.secret}
pbx:
  supervise: {mode: exec, command: [/bin/true], user: root, group: root}
`},
		{name: "pair with a good key", yaml: pair},
		{name: "key readable by others", yaml: pair,
			setup: func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "pbxha.key"), 0o644) },
			want:  "t.yaml: peer.key_file: DIR/pbxha.key: mode 0644 lets group or others access the key; chmod 600 it"},
		{name: "key readable by the group", yaml: pair,
			setup: func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "pbxha.key"), 0o640) },
			want:  "t.yaml: peer.key_file: DIR/pbxha.key: mode 0640 lets group or others access the key; chmod 600 it"},
		{name: "key too short", yaml: strings.Replace(pair, "DIR/pbxha.key", "DIR/short.key", 1),
			want: "t.yaml: peer.key_file: DIR/short.key: key is 16 bytes, want at least 32 (pbxha keygen writes one)"},
		{name: "key is a directory", yaml: strings.Replace(pair, "DIR/pbxha.key", "DIR/corrupt", 1),
			want: "t.yaml: peer.key_file: DIR/corrupt: not a regular file (a directory)"},
		{name: "key missing", yaml: strings.Replace(pair, "DIR/pbxha.key", "DIR/none.key", 1),
			want: "t.yaml: peer.key_file: cannot read DIR/none.key: no such file or directory (pbxha keygen writes a key)"},
		{name: "password file empty", yaml: single + "  esl:\n    - password_file: DIR/empty\n",
			want: "t.yaml: probes.esl[0].password_file: DIR/empty is empty"},
		{name: "password file of two lines", yaml: single + "  esl:\n    - password_file: DIR/two-lines\n",
			want: "t.yaml: probes.esl[0].password_file: DIR/two-lines holds more than one line; the secret must be a single line"},
		{name: "secret file missing", yaml: single + "  ami:\n    - {username: u, secret_file: DIR/nope}\n",
			want: "t.yaml: probes.ami[0].secret_file: cannot read DIR/nope: no such file or directory"},
		{name: "alert secret of two lines is a key", yaml: single + "alerts:\n  endpoints:\n    - {url: \"https://x.example.com/\", secret_file: DIR/two-lines}\n"},
		{name: "ca file not PEM", yaml: single + "    - target: sips:127.0.0.1:5061\n      tls: {ca_file: DIR/not-pem}\n",
			want: "t.yaml: probes.sip[1].tls.ca_file: DIR/not-pem holds no PEM certificate"},
		{name: "state_dir is a file", yaml: strings.Replace(single, "DIR/state", "DIR/a-file", 1),
			want: `t.yaml: state_dir: "DIR/a-file" is not a directory`},
		{name: "state_dir below a file", yaml: strings.Replace(single, "DIR/state", "DIR/a-file/state", 1),
			want: `t.yaml: state_dir: "DIR/a-file/state" cannot be created: DIR/a-file is not a directory`},
		{name: "epoch file corrupt", yaml: strings.Replace(pair, "DIR/state", "DIR/corrupt", 1),
			want: `t.yaml: state_dir: DIR/corrupt/epoch: corrupt content "seven": want one decimal number`},
		{name: "unknown user and group", yaml: single + "pbx:\n  supervise: {mode: exec, command: [/bin/true], user: no-such-user-pbxha, group: no-such-group-pbxha}\n",
			want: "t.yaml: pbx.supervise.user: \"no-such-user-pbxha\" is not a user of this host\n" +
				"t.yaml: pbx.supervise.group: \"no-such-group-pbxha\" is not a group of this host"},
		{name: "user checked in exec mode only", yaml: single + "pbx:\n  supervise: {mode: none, user: no-such-user-pbxha}\n"},
		{name: "static and host problems at once", yaml: strings.Replace(strings.Replace(pair, "DIR/pbxha.key", "pbxha.key", 1),
			"peer:", "  esl:\n    - password_file: DIR/nope\npeer:", 1),
			want: "t.yaml: peer.key_file: \"pbxha.key\" must be an absolute path\n" +
				"t.yaml: probes.esl[0].password_file: cannot read DIR/nope: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := hostFiles(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			path := filepath.Join(dir, "t.yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(tt.yaml, "DIR", dir)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Preflight(path)
			got := ""
			if err != nil {
				got = strings.ReplaceAll(strings.ReplaceAll(err.Error(), path, "t.yaml"), dir, "DIR")
			}
			if got != tt.want {
				t.Errorf("got problems\n%s\nwant\n%s", got, tt.want)
			}
			if tt.want == "" {
				c := mustLoad(t, path)
				if err := c.CheckHost(); err != nil {
					t.Errorf("CheckHost on the loaded config: got %v, want nil as Preflight", err)
				}
			}
		})
	}
}

// TestCheckHostLocalAddress: a heartbeat path whose local address is not
// this host's cannot be bound (the peer's config copied unchanged); any
// address of 127.0.0.0/8 can.
func TestCheckHostLocalAddress(t *testing.T) {
	cleanEnv(t)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Skip("net.ipv4.ip_nonlocal_bind is on: any address can be bound")
	}
	dir := hostFiles(t)
	path := filepath.Join(dir, "t.yaml")
	body := strings.ReplaceAll(`state_dir: DIR/state
probes:
  sip:
    - target: sip:127.0.0.1:5060
peer:
  paths:
    - {local: "127.0.0.2:17946", peer: "127.0.0.1:17947"}
    - {local: "192.0.2.1:7946", peer: "192.0.2.2:7946"}
  key_file: DIR/pbxha.key
failover:
  tie_breakers: ["127.0.0.1:53"]
`, "DIR", dir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ": peer.paths[1].local: 192.0.2.1 is not an address of this host, so the heartbeat socket cannot be bound to it (is local swapped with peer?)"
	if _, err := Preflight(path); err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
