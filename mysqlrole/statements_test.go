package mysqlrole

import (
	"strings"
	"testing"

	"github.com/pbxha/pbxha/probe"
)

// TestStatements: the statements each flavor gets (MySQL is not installed
// here, so its side is checked as text).
func TestStatements(t *testing.T) {
	tests := []struct {
		name                           string
		srv                            probe.MySQLServer
		stop, start, reset, change, ro string
		open                           []string
	}{
		{"mariadb", probe.MySQLServer{Flavor: probe.FlavorMariaDB, Version: "10.11.6-MariaDB"},
			"STOP SLAVE IO_THREAD", "START SLAVE", "RESET SLAVE ALL",
			"CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = current_pos",
			"SET GLOBAL read_only = ON", []string{"SET GLOBAL read_only = OFF"}},
		{"mysql 8.0", probe.MySQLServer{Flavor: probe.FlavorMySQL, Version: "8.0.36"},
			"STOP REPLICA IO_THREAD", "START REPLICA", "RESET REPLICA ALL",
			"CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_AUTO_POSITION = 1",
			"SET GLOBAL super_read_only = ON", []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}},
		{"mysql 5.7", probe.MySQLServer{Flavor: probe.FlavorMySQL, Version: "5.7.44-log"},
			"STOP SLAVE IO_THREAD", "START SLAVE", "RESET SLAVE ALL",
			"CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_AUTO_POSITION = 1",
			"SET GLOBAL super_read_only = ON", []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{srv: tc.srv}
			if got := s.stopReplica("IO_THREAD"); got != tc.stop {
				t.Errorf("stop: got %q, want %q", got, tc.stop)
			}
			if got := s.startReplica(""); got != tc.start {
				t.Errorf("start: got %q, want %q", got, tc.start)
			}
			if got := s.resetReplica(); got != tc.reset {
				t.Errorf("reset: got %q, want %q", got, tc.reset)
			}
			q, args := s.changeSource("10.0.0.2", 3306, "pbxha", "pw")
			if !strings.HasPrefix(q, tc.change) || len(args) != 4 || args[0] != "10.0.0.2" || args[1] != 3306 {
				t.Errorf("change source: got %q %v, want it to start %q with host, port, user, password", q, args, tc.change)
			}
			if got := s.readOnly(true); len(got) != 1 || got[0] != tc.ro {
				t.Errorf("read only: got %q, want %q", got, tc.ro)
			}
			if got := s.readOnly(false); strings.Join(got, ";") != strings.Join(tc.open, ";") {
				t.Errorf("open writes: got %q, want %q", got, tc.open)
			}
		})
	}
}
