package hooks

import (
	"strings"
	"testing"
)

func TestEnviron(t *testing.T) {
	tests := []struct {
		name    string
		base    []string
		vars    map[string]string
		want    []string
		wantErr string
	}{
		{"drops pbxha variables", []string{"PATH=/bin", "PBXHA_DATABASE_DSN=secret", "HOME=/root"}, nil,
			[]string{"PATH=/bin", "HOME=/root"}, ""},
		{"vars sorted after base", []string{"PATH=/bin"}, map[string]string{"PBXHA_NODE": "a", "PBXHA_EVENT": "takeover"},
			[]string{"PATH=/bin", "PBXHA_EVENT=takeover", "PBXHA_NODE=a"}, ""},
		{"vars override base", []string{"PGDATA=/old", "PATH=/bin"}, map[string]string{"PGDATA": "/new"},
			[]string{"PATH=/bin", "PGDATA=/new"}, ""},
		{"empty value kept", nil, map[string]string{"X": ""}, []string{"X="}, ""},
		{"bad name", nil, map[string]string{"A=B": "1"}, nil, `env name "A=B"`},
		{"empty name", nil, map[string]string{"": "1"}, nil, `env name ""`},
		{"nul value", nil, map[string]string{"A": "x\x00y"}, nil, "env A: value holds a NUL byte"},
		{"the daemon's config and socket pass", []string{"PBXHA_CONFIG=/etc/pbxha/pbxha.yaml", "PBXHA_SOCKET=/run/pbxha/pbxha.sock", "PBXHA_LOG_LEVEL=debug"}, nil,
			[]string{"PBXHA_CONFIG=/etc/pbxha/pbxha.yaml", "PBXHA_SOCKET=/run/pbxha/pbxha.sock"}, ""},
		{"unreserved pbxha name", nil, map[string]string{"PBXHA_LOG_LEVEL": "debug"}, nil, "env PBXHA_LOG_LEVEL: not a reserved name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Environ(tc.base, tc.vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{"entries", []string{"PGDATA=/var/lib/postgresql/15/main", "OPTS=-p 5433 -c x=y"},
			map[string]string{"PGDATA": "/var/lib/postgresql/15/main", "OPTS": "-p 5433 -c x=y"}, ""},
		{"later wins", []string{"A=1", "A=2"}, map[string]string{"A": "2"}, ""},
		{"no equals", []string{"PGDATA"}, nil, `env entry 0: want KEY=VALUE`},
		{"empty key", []string{"=x"}, nil, `env name ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnv(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestVarsMap(t *testing.T) {
	got := Vars{Event: "release", Node: "node-b", Epoch: 0}.Map()
	want := map[string]string{EnvEvent: "release", EnvNode: "node-b"}
	if len(got) != len(want) || got[EnvEvent] != "release" || got[EnvNode] != "node-b" {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := (Vars{Epoch: 7}).Map()[EnvEpoch]; got != "7" {
		t.Errorf("epoch: got %q, want %q", got, "7")
	}
	if got := (Vars{PeerHost: "10.1.1.2"}).Map(); len(got) != 1 || got[EnvPeerHost] != "10.1.1.2" {
		t.Errorf("peer host: got %v, want only %s=10.1.1.2", got, EnvPeerHost)
	}
}
