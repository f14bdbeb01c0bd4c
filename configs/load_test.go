package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
)

// TestInvalidFixtures loads every testdata/invalid-*.yaml and compares the
// problems with the golden .err file beside it, line for line.
func TestInvalidFixtures(t *testing.T) {
	cleanEnv(t)
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("got %d invalid fixtures (err %v), want at least 10", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".err")
			if err != nil {
				t.Fatalf("every invalid fixture needs a .err file: %v", err)
			}
			c, err := Load(file)
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
			for _, p := range ce.Problems {
				if p.File != file {
					t.Errorf("problem %q: got file %q, want %q", p, p.File, file)
				}
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	cleanEnv(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	minimalSIP := DefaultSIP()
	minimalSIP.Name, minimalSIP.Target = "sip", "sip:127.0.0.1:5060"
	minimal := defaults()
	minimal.Node.Name = host
	minimal.Probes.SIP = []SIPProbe{minimalSIP}

	full := Config{
		Node:         Node{Name: "node-b", Cluster: "lab"},
		Log:          Log{Format: "json", Level: "debug"},
		Control:      Control{Socket: "/tmp/pbxha.sock"},
		Metrics:      Metrics{Listen: "[::1]:9464"},
		StateDir:     "/srv/pbxha",
		History:      1000,
		Events:       Events{Keep: event.DefaultKeep, MaxAge: event.DefaultMaxAge},
		PBX:          defaults().PBX,
		Alerts:       defaults().Alerts,
		Peer:         defaults().Peer,
		Coordination: defaults().Coordination,
		Etcd:         defaults().Etcd,
		Failover:     defaults().Failover,
		VIP:          defaults().VIP,
		Database:     defaults().Database,
		Hooks:        defaults().Hooks,
		Sync:         defaults().Sync,
	}
	sip0 := DefaultSIP()
	sip0.Name, sip0.Target, sip0.Critical, sip0.Rise, sip0.Fall = "sip-0", "sips:pbx.example.com:5061", false, 1, 1
	sip0.Accept, sip0.Degraded, sip0.FromUser, sip0.UserAgent = "2xx,401,403,404", "none", "ha", "pbxha/1 (lab)"
	sip0.LocalHost, sip0.FreshConnection = "192.0.2.10", true
	sip0.TLS = TLS{CAFile: "/etc/pbxha/ca.pem", ServerName: "pbx.example.com"}
	sip1 := DefaultSIP()
	sip1.Name, sip1.Target, sip1.Accept = "sip-1", "sip:[2001:db8::1]:5080;transport=tcp", "200"
	esl := DefaultESL()
	esl.Name, esl.Password, esl.Profiles, esl.CountCalls = "esl", "0123", []string{"internal"}, true
	esl.MaxSessionsShare, esl.MinIdleCPU = 1, 0.5
	pg := DefaultPG()
	pg.Name, pg.DSN, pg.ExpectRole, pg.Table, pg.FreshConnEvery = "db", "postgres://pbxha:secret@127.0.0.1:5432/pbx?sslmode=disable", "primary", "ha_beat", 0
	ami := DefaultAMI()
	ami.Name, ami.Username, ami.SecretFile, ami.MaxCalls, ami.Critical = "ami", "pbxha", "/etc/pbxha/ami.secret", 200, false
	tcp := DefaultTCP()
	tcp.Name, tcp.Address, tcp.Critical, tcp.Interval, tcp.Timeout = "redis", "localhost:6379", true, 10*time.Millisecond, 5*time.Millisecond
	exe := DefaultExec()
	exe.Name, exe.Command = "exec", []string{"/usr/lib/nagios/plugins/check_procs", "-c", "1:", "-C", "freeswitch"}
	exe.Timeout, exe.Interval = 1500*time.Millisecond, time.Minute
	full.Probes = Probes{SIP: []SIPProbe{sip0, sip1}, ESL: []ESLProbe{esl}, PG: []PGProbe{pg},
		AMI: []AMIProbe{ami}, TCP: []TCPProbe{tcp}, Exec: []ExecProbe{exe}}

	tests := []struct {
		name string
		path string
		want *Config // nil: only check that it loads
	}{
		{name: "minimal", path: "testdata/valid-minimal.yaml", want: &minimal},
		{name: "full", path: "testdata/valid-full.yaml", want: &full},
		{name: "example", path: "pbxha.example.yaml"},
		{name: "default file", path: "default.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.path)
			if c.Source != tt.path {
				t.Errorf("got source %q, want %q", c.Source, tt.path)
			}
			if tt.want != nil {
				if got := plain(c); !reflect.DeepEqual(got, *tt.want) {
					t.Errorf("got\n%+v\nwant\n%+v", got, *tt.want)
				}
			}
		})
	}
}

// TestDefaultFile checks that the embedded file says what the code does: the
// defaults documented in it are the ones a file without the keys gets.
func TestDefaultFile(t *testing.T) {
	cleanEnv(t)
	c, err := Parse(EmbeddedSource, Default())
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	host, _ := os.Hostname()
	want := defaults()
	want.Node.Name = host
	sip := DefaultSIP()
	sip.Name, sip.Target = "sip", "sip:127.0.0.1:5060;transport=udp"
	want.Probes.SIP = []SIPProbe{sip}
	if got := plain(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	fromFile, err := os.ReadFile("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Default()); got != string(fromFile) {
		t.Errorf("Default() differs from default.yaml")
	}
	// Default returns a copy: changing it must not change the next one.
	b := Default()
	b[0] ^= 0xff
	if Default()[0] == b[0] {
		t.Errorf("got the same byte after changing a returned copy, want Default to return a fresh copy")
	}
}

func TestKindDefaults(t *testing.T) {
	cleanEnv(t)
	c, err := Parse("kinds.yaml", []byte(`probes:
  sip: [{target: "sip:127.0.0.1"}]
  esl: [{password: x}]
  pg: [{dsn: "host=127.0.0.1"}]
  ami: [{username: u, secret: s}]
  tcp: [{address: "127.0.0.1:1"}]
  exec: [{command: [/bin/true]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		s                 Schedule
		interval, timeout time.Duration
		fall              int
		critical          bool
	}{
		{"sip", c.Probes.SIP[0].Schedule, 200 * time.Millisecond, 200 * time.Millisecond, 2, true},
		{"esl", c.Probes.ESL[0].Schedule, 2 * time.Second, time.Second, 3, true},
		{"pg", c.Probes.PG[0].Schedule, 2 * time.Second, time.Second, 3, true},
		{"ami", c.Probes.AMI[0].Schedule, 2 * time.Second, time.Second, 3, true},
		{"tcp", c.Probes.TCP[0].Schedule, time.Second, 500 * time.Millisecond, 3, false},
		{"exec", c.Probes.Exec[0].Schedule, 2 * time.Second, time.Second, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Schedule{Name: tt.name, Interval: tt.interval, Timeout: tt.timeout, Rise: 2, Fall: tt.fall, Critical: tt.critical}
			if tt.s != want {
				t.Errorf("got %+v, want %+v", tt.s, want)
			}
		})
	}
	if got := c.Probes.ESL[0].Address; got != "127.0.0.1:8021" {
		t.Errorf("got esl address %q, want 127.0.0.1:8021", got)
	}
	if got := c.Probes.AMI[0].Address; got != "127.0.0.1:5038" {
		t.Errorf("got ami address %q, want 127.0.0.1:5038", got)
	}
	if p := c.Probes.PG[0]; p.ExpectRole != "any" || p.Table != "pbxha_heartbeat" || p.FreshConnEvery != 30*time.Second {
		t.Errorf("got pg %+v, want expect_role any, table pbxha_heartbeat, fresh_conn_every 30s", p)
	}
}

// TestCriticalExplicitFalse: critical defaults to true, so an explicit false
// must survive, and a missing or empty key must not turn it off.
func TestCriticalExplicitFalse(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name string
		line string
		want bool
	}{
		{"absent", "", true},
		{"explicit false", "critical: false", false},
		{"explicit true", "critical: true", true},
		{"no value", "critical:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte("probes:\n  sip:\n    - target: sip:127.0.0.1\n      "+tt.line+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Probes.SIP[0].Critical; got != tt.want {
				t.Errorf("got critical %t, want %t", got, tt.want)
			}
		})
	}
}

func TestLoadSource(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(existing, []byte("probes:\n  tcp: [{address: \"127.0.0.1:1\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(existing, "pbxha.yaml") // a path below a file: stat fails with ENOTDIR
	tests := []struct {
		name, path, def string
		wantSource      string
		wantErr         string
	}{
		{name: "no file, no default file", def: filepath.Join(dir, "missing.yaml"), wantSource: EmbeddedSource},
		{name: "no file, default file exists", def: existing, wantSource: existing},
		{name: "named file", path: existing, def: "/nonexistent", wantSource: existing},
		{name: "named file missing", path: filepath.Join(dir, "nope.yaml"), wantErr: filepath.Join(dir, "nope.yaml") + ": cannot read: no such file or directory"},
		{name: "default path unreadable", def: notDir, wantErr: notDir + ": cannot read: not a directory"},
		{name: "named directory", path: dir, wantErr: dir + ": cannot read: is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.path, tt.def)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Source != tt.wantSource {
				t.Errorf("got source %q, want %q", c.Source, tt.wantSource)
			}
		})
	}
}

// TestValidateAfterChange: Validate works on a Config built or changed in
// code, where no origins are known.
func TestValidateAfterChange(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, "testdata/valid-minimal.yaml")
	if err := c.Validate(); err != nil {
		t.Fatalf("got %v, want a loaded config to validate", err)
	}
	c.Probes.SIP[0].Timeout = 3 * time.Second
	c.History = 0
	want := "testdata/valid-minimal.yaml: history: 0 must be from 1 to 1000\n" +
		"testdata/valid-minimal.yaml: probes.sip[0].timeout: 3s must not be longer than interval 200ms"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	var zero Config
	if err := zero.Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: node.name: ") {
		t.Errorf("got %v, want problems labelled \"config\"", err)
	}
}
