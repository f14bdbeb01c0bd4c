package mariadbtest_test

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/mariadbtest"
)

// TestPrimaryAndReplica starts a primary and a GTID replica: a row written
// on the primary reaches the replica, which is read_only and streams from
// the primary; the app user cannot write on the replica.
func TestPrimaryAndReplica(t *testing.T) {
	p := mariadbtest.StartPrimary(t, mariadbtest.Options{})
	r := p.StartReplica(t)
	p.Exec(t, "CREATE TABLE pbx.calls (id INT PRIMARY KEY)")
	p.Exec(t, "INSERT INTO pbx.calls VALUES (1), (2)")
	testenv.WaitForReason(t, 30*time.Second, "rows on the replica", func() (bool, string) {
		var n int
		err := r.TryQueryRow("SELECT count(*) FROM pbx.calls", nil, &n)
		return err == nil && n == 2, r.Log()
	})
	ro, src, err := r.ReplicaState()
	if err != nil || !ro || src != "127.0.0.1" {
		t.Errorf("replica state: got read_only %v, source %q (%v); want read_only from 127.0.0.1", ro, src, err)
	}
	var gp, gr string
	p.QueryRow(t, "SELECT @@gtid_binlog_pos", nil, &gp)
	r.QueryRow(t, "SELECT @@gtid_slave_pos", nil, &gr)
	if gp == "" || gp != gr {
		t.Errorf("gtid: primary %q, replica %q; want equal and set", gp, gr)
	}
	if p.ServerID == r.ServerID {
		t.Errorf("server ids: both %d", p.ServerID)
	}
}
