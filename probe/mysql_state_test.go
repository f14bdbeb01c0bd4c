package probe

import (
	"testing"
	"time"
)

func TestMySQLStateDetail(t *testing.T) {
	srv := MySQLServer{Flavor: FlavorMariaDB}
	tests := []struct {
		name string
		st   MySQLState
		want string
	}{
		{"primary with a replica and a write", MySQLState{Server: srv, Role: MySQLRolePrimary, Executed: "0-1-42",
			Replicas: []MySQLReplica{{Addr: "10.0.0.2:40000"}}, Wrote: true, WriteLatency: 400 * time.Microsecond},
			"primary, gtid 0-1-42, 1 replica, write 0.4 ms"},
		{"primary alone, no gtid yet", MySQLState{Server: srv, Role: MySQLRolePrimary}, "primary, gtid none, no replicas"},
		{"writable and replicating", MySQLState{Server: srv, Role: MySQLRolePrimary, Executed: "0-1-1", Replicating: true,
			Replicas: []MySQLReplica{{}, {}}}, "primary, gtid 0-1-1, 2 replicas, also replicating"},
		{"replica streaming", MySQLState{Server: srv, Role: MySQLRoleReplica, Replicating: true, IORunning: "Yes", SQLRunning: "Yes",
			Source: "10.0.0.1:3306", Executed: "0-1-40", PositionCount: 42, AppliedCount: 40},
			"replica of 10.0.0.1:3306, io yes, sql yes, lag 0s, 2 to apply, gtid 0-1-40"},
		{"replica with errors", MySQLState{Server: srv, Role: MySQLRoleReplica, Replicating: true, IORunning: "Connecting", SQLRunning: "No",
			SecondsBehind: -1, Source: "10.0.0.1:3306", LastIOError: "error connecting", LastSQLError: "duplicate key"},
			"replica of 10.0.0.1:3306, io connecting, sql no, lag unknown, 0 to apply, gtid none, io error: error connecting, sql error: duplicate key"},
		{"read only, not replicating", MySQLState{Server: srv, Role: MySQLRoleReplica, Executed: "0-2-7"}, "replica, not replicating, gtid 0-2-7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.st.detail(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMySQLServerVersion(t *testing.T) {
	tests := []struct {
		version string
		want    string
	}{
		{"8.0.36", "SHOW REPLICA STATUS"},
		{"8.0.22-commercial", "SHOW REPLICA STATUS"},
		{"8.0.21", "SHOW SLAVE STATUS"},
		{"5.7.44-log", "SHOW SLAVE STATUS"},
		{"8.4.0", "SHOW REPLICA STATUS"},
	}
	for _, tc := range tests {
		if got := (MySQLServer{Flavor: FlavorMySQL, Version: tc.version}).ReplicaStatusSQL(); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.version, got, tc.want)
		}
	}
	if got := (MySQLServer{Flavor: FlavorMariaDB, Version: "10.11.6-MariaDB"}).ReplicaStatusSQL(); got != "SHOW SLAVE STATUS" {
		t.Errorf("MariaDB: got %q, want SHOW SLAVE STATUS", got)
	}
}

// TestLastDB: the pg and mysql probes' readings as the failover reads them.
func TestLastDB(t *testing.T) {
	m, err := NewMySQL(MySQLConfig{DSN: "u@tcp(127.0.0.1:1)/d", Node: "n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	checks := []Check{{Name: "db", Kind: KindMySQL, Interval: time.Second, Timeout: 500 * time.Millisecond, Probe: m}}
	if _, _, ok := LastDB(checks, now); ok {
		t.Errorf("before the first reading: got ok, want none")
	}
	m.mu.Lock()
	m.last, m.haveLast = MySQLState{At: now.Add(-3 * time.Second), Role: MySQLRoleReplica, PositionCount: 42}, true
	m.mu.Unlock()
	r, fresh, ok := LastDB(checks, now)
	if !ok || fresh || r.Role != DBRoleStandby || r.Position != 42 || r.Kind != KindMySQL {
		t.Errorf("got %+v fresh %v ok %v, want a stale standby reading at 42", r, fresh, ok)
	}
	if got := FormatDBPosition(KindMySQL, 42); got != "gtid 42" {
		t.Errorf("FormatDBPosition(mysql): got %q", got)
	}
	if got := FormatDBPosition(KindPG, 0x3000060); got != "0/3000060" {
		t.Errorf("FormatDBPosition(pg): got %q", got)
	}
}

// TestMySQLStatePositions: the transaction counts of each flavor's
// positions, as ReadMySQL derives them.
func TestMySQLStatePositions(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "2174b383-5441-11e8-b90a-c80aa9429562"
	tests := []struct {
		name                 string
		flavor               MySQLFlavor
		binlog, slave, recv  string
		wantPos, wantApplied uint64
		wantExecuted         string
	}{
		{"mariadb primary", FlavorMariaDB, "0-1-42", "", "", 42, 42, "0-1-42"},
		{"mariadb replica behind", FlavorMariaDB, "0-1-40", "0-1-40", "0-1-45", 45, 40, "0-1-40"},
		{"mariadb former primary", FlavorMariaDB, "0-2-50", "0-1-30", "", 50, 50, "0-2-50"},
		{"mysql primary", FlavorMySQL, u1 + ":1-42", "", "", 42, 42, u1 + ":1-42"},
		{"mysql replica behind, after a failover", FlavorMySQL, u1 + ":1-40,\n" + u2 + ":1-3", "", u1 + ":1-45", 48, 43, u2 + ":1-3," + u1 + ":1-40"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := MySQLState{Server: MySQLServer{Flavor: tc.flavor}, Received: tc.recv}
			if err := st.positions(tc.binlog, tc.slave); err != nil {
				t.Fatal(err)
			}
			if st.Position() != tc.wantPos || st.AppliedCount != tc.wantApplied || st.Executed != tc.wantExecuted {
				t.Errorf("got position %d, applied %d, executed %q; want %d, %d, %q",
					st.Position(), st.AppliedCount, st.Executed, tc.wantPos, tc.wantApplied, tc.wantExecuted)
			}
			if got, want := st.LagTransactions(), tc.wantPos-tc.wantApplied; got != want {
				t.Errorf("lag: got %d, want %d", got, want)
			}
		})
	}
}
