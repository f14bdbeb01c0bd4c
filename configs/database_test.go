package configs

import (
	"strings"
	"testing"
)

func TestRedactMySQLDSN(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"password", "pbxha:s3cret@tcp(127.0.0.1:3306)/pbxha", "pbxha:" + Redacted + "@tcp(127.0.0.1:3306)/pbxha"},
		{"no password", "pbxha@tcp(127.0.0.1:3306)/pbxha", "pbxha@tcp(127.0.0.1:3306)/pbxha"},
		{"unparsable", "pbxha:s3cret@tcp(127.0.0.1", Redacted},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactMySQLDSN(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	c := defaults()
	c.Database.Kind, c.Database.DSN = string(DatabaseMariaDB), "pbxha:s3cret@tcp(127.0.0.1:3306)/"
	c.Probes.MySQL = []MySQLProbe{{DSN: "pbxha:s3cret@tcp(127.0.0.1:3306)/pbxha"}}
	r := c.Redacted()
	if strings.Contains(r.Database.DSN, "s3cret") || strings.Contains(r.Probes.MySQL[0].DSN, "s3cret") {
		t.Errorf("Redacted: got %q and %q, want no password", r.Database.DSN, r.Probes.MySQL[0].DSN)
	}
	if !strings.Contains(c.Probes.MySQL[0].DSN, "s3cret") {
		t.Errorf("Redacted changed the original")
	}
}

// TestDatabaseKinds: the lag limit and the two-half release follow the
// kind.
func TestDatabaseKinds(t *testing.T) {
	tests := []struct {
		name        string
		kind        DatabaseKind
		stop, dem   []string
		wantLag     uint64
		wantRejoins bool
	}{
		{"postgresql, stop only", DatabasePostgreSQL, []string{"stop"}, nil, 1 << 20, false},
		{"postgresql, stop and demote", DatabasePostgreSQL, []string{"stop"}, []string{"demote"}, 1 << 20, true},
		{"mariadb", DatabaseMariaDB, nil, nil, 100, true},
		{"mysql", DatabaseMySQL, []string{"stop"}, nil, 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults()
			c.Database.Kind, c.Database.DSN = string(tc.kind), "x"
			c.Database.StopCommand, c.Database.DemoteCommand = tc.stop, tc.dem
			p, err := c.FailoverPolicy()
			if err != nil {
				t.Fatal(err)
			}
			if p.MaxLagBytes != tc.wantLag {
				t.Errorf("policy lag limit: got %d, want %d", p.MaxLagBytes, tc.wantLag)
			}
			if want := tc.kind != DatabasePostgreSQL; p.LagTransactions != want {
				t.Errorf("policy lag in transactions: got %v, want %v", p.LagTransactions, want)
			}
			if got := c.DatabaseRejoins(); got != tc.wantRejoins {
				t.Errorf("DatabaseRejoins: got %v, want %v", got, tc.wantRejoins)
			}
		})
	}
}
