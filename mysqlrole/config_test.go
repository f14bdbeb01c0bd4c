package mysqlrole

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/dbrole"
)

func TestNewConfig(t *testing.T) {
	const dsn = "pbxha:s3cret@tcp(127.0.0.1:3307)/pbxha"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{DSN: dsn}, ""},
		{"no dsn", Config{}, "mysqlrole: config: dsn: is required"},
		{"no user", Config{DSN: "tcp(127.0.0.1:3306)/"}, "dsn: names no user"},
		{"bad dsn", Config{DSN: "pbxha:s3cret@tcp(127.0.0.1:3306/x"}, "dsn: does not parse"},
		{"empty program", Config{DSN: dsn, StopCommand: []string{""}}, "stop_command[0]: must name a program"},
		{"negative timeout", Config{DSN: dsn, StopTimeout: -time.Second}, "stop_timeout: -1s must be positive"},
		{"bad port", Config{DSN: dsn, PeerPort: 70000}, "peer_port: 70000 must be a port"},
		{"bad env", Config{DSN: dsn, Env: []string{"X"}}, `env: hooks: env entry 0: want KEY=VALUE`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error: got %v, want %q without the password", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			defer m.Close()
			c := m.cfg
			if c.MaxLagTransactions != DefaultMaxLagTransactions || c.PromoteTimeout != DefaultPromoteTimeout ||
				c.DemoteTimeout != DefaultDemoteTimeout || c.StopTimeout != DefaultStopTimeout || c.ConnectTimeout != DefaultConnectTimeout {
				t.Errorf("defaults: got %+v", c)
			}
			if got, want := m.Target(), "127.0.0.1:3307/pbxha"; got != want {
				t.Errorf("Target: got %q, want %q", got, want)
			}
			for _, tc := range []struct {
				args     dbrole.DemoteArgs
				cfgHost  string
				cfgPort  int
				wantHost string
				wantPort int
			}{
				{dbrole.DemoteArgs{PeerHost: "10.0.0.2"}, "", 0, "10.0.0.2", 3307},
				{dbrole.DemoteArgs{PeerHost: "10.0.0.2", PeerPort: 3306}, "", 0, "10.0.0.2", 3306},
				{dbrole.DemoteArgs{PeerHost: "10.0.0.2"}, "10.9.9.2", 3308, "10.9.9.2", 3308},
			} {
				m.cfg.PeerHost, m.cfg.PeerPort = tc.cfgHost, tc.cfgPort
				if h, p := m.peer(tc.args); h != tc.wantHost || p != tc.wantPort {
					t.Errorf("peer(%+v) with %q:%d: got %s:%d, want %s:%d", tc.args, tc.cfgHost, tc.cfgPort, h, p, tc.wantHost, tc.wantPort)
				}
			}
		})
	}
}

func TestCheckLag(t *testing.T) {
	tests := []struct {
		name           string
		local, peer    uint64
		override       bool
		wantLag        uint64
		wantOverridden bool
		wantErr        string
	}{
		{"caught up", 42, 42, false, 0, false, ""},
		{"ahead", 50, 42, false, 0, false, ""},
		{"within", 32, 42, false, 10, false, ""},
		{"one over", 31, 42, false, 11, false, "local gtid position 31 is 11 transactions behind the peer's 42 (max_lag_transactions 10)"},
		{"over, overridden", 0, 420, true, 420, true, ""},
		{"unknown", 31, 0, false, 0, false, "peer gtid position unknown, local 31"},
		{"unknown, overridden", 31, 0, true, 0, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lag, ov, err := checkLag("db", tc.local, tc.peer, 10, tc.override)
			if lag != tc.wantLag || ov != tc.wantOverridden {
				t.Errorf("got lag %d overridden %v, want %d %v", lag, ov, tc.wantLag, tc.wantOverridden)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("error: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, dbrole.ErrTooFarBehind) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error: got %v, want ErrTooFarBehind with %q", err, tc.wantErr)
			}
		})
	}
}
