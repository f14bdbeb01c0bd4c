package dbrole

import (
	"strings"
	"testing"
	"time"
)

func TestNewConfig(t *testing.T) {
	const dsn = "postgres://pbxha:s3cret@127.0.0.1:5433/postgres?sslmode=disable"
	stop := []string{"pg_ctlcluster", "15", "main", "stop", "-m", "fast"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{DSN: dsn, StopCommand: stop}, ""},
		{"no dsn", Config{StopCommand: stop}, "dbrole: config: dsn: is required"},
		{"no command", Config{DSN: dsn}, "dbrole: config: demote_command: or stop_command is required"},
		{"empty program", Config{DSN: dsn, DemoteCommand: []string{""}}, "dbrole: config: demote_command[0]: must name a program"},
		{"negative timeout", Config{DSN: dsn, StopCommand: stop, DemoteTimeout: -time.Second}, "dbrole: config: demote_timeout: -1s must be positive"},
		{"bad env", Config{DSN: dsn, StopCommand: stop, Env: []string{"PGDATA"}}, `dbrole: config: env: hooks: env entry 0: want KEY=VALUE`},
		{"bad dsn", Config{DSN: "postgres://[::1", StopCommand: stop}, "dbrole: config: dsn: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			c := m.cfg
			if c.MaxLagBytes != DefaultMaxLagBytes || c.PromoteTimeout != DefaultPromoteTimeout ||
				c.DemoteTimeout != DefaultDemoteTimeout || c.StopTimeout != DefaultStopTimeout ||
				c.ConnectTimeout != DefaultConnectTimeout || c.Now == nil {
				t.Errorf("defaults: got %+v", c)
			}
			if got, want := m.Target(), "127.0.0.1:5433/postgres"; got != want {
				t.Errorf("Target: got %q, want %q", got, want)
			}
			if strings.Contains(m.Target(), "s3cret") {
				t.Errorf("Target %q holds the password", m.Target())
			}
		})
	}
}

func TestCommandEnv(t *testing.T) {
	m, err := New(Config{DSN: "postgres://127.0.0.1/postgres", StopCommand: []string{"true"},
		Env: []string{"PGDATA=/var/lib/postgresql/15/main", "PBXHA_ACTION=overridden"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		action string
		args   DemoteArgs
		want   map[string]string
	}{
		{"all args", "demote", DemoteArgs{Node: "node-a", PeerHost: "10.0.0.2", PeerPort: 5432}, map[string]string{
			"PGDATA": "/var/lib/postgresql/15/main", EnvAction: "demote", EnvNode: "node-a",
			EnvPeerHost: "10.0.0.2", EnvPeerPort: "5432"}},
		{"no args", "stop", DemoteArgs{}, map[string]string{"PGDATA": "/var/lib/postgresql/15/main", EnvAction: "stop"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.commandEnv(tc.action, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
