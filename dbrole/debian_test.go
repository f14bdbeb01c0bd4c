package dbrole

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/pgtest"
)

// TestDemoteScriptDebianCluster runs configs/pg-demote.sh the way a Debian
// server has it: the old primary is a packaged cluster (PG_CLUSTER=15/name,
// its configuration under /etc/postgresql, started and stopped with
// pg_ctlcluster), the new primary its promoted streaming standby. The
// script must stop it with pg_ctlcluster, rewind it, and start it with
// pg_ctlcluster as a standby streaming from the new primary.
func TestDemoteScriptDebianCluster(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_conftool"} {
		testenv.LookPath(t, tool)
	}
	bin := pgBin(t)
	a := pgtest.StartPrimary(t, pgtest.Options{Settings: []string{"wal_log_hints = on", "full_page_writes = on", "wal_keep_size = 256MB"}})
	b := a.StartStandby(t)
	a.Exec(t, "CREATE TABLE calls (id int PRIMARY KEY)")
	a.Exec(t, "INSERT INTO calls SELECT generate_series(1, 10)")
	waitCount(t, b, "SELECT count(*) FROM calls", 10)

	// a becomes a packaged cluster: pg_createcluster integrates the data
	// directory, moving its configuration to /etc/postgresql/VER/NAME.
	ver, err := os.ReadFile(filepath.Join(a.DataDir, "PG_VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := string(ver[:len(ver)-1])
	name := fmt.Sprintf("pbxha-test-%d", os.Getpid())
	a.Stop(t)
	run := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	run("pg_createcluster", "-d", a.DataDir, "-p", strconv.Itoa(a.Port), version, name)
	t.Cleanup(func() {
		// pg_dropcluster removes /etc/postgresql/VER/NAME and the data
		// directory, which pgtest would remove anyway.
		if out, err := exec.Command("pg_dropcluster", "--stop", version, name).CombinedOutput(); err != nil {
			t.Errorf("pg_dropcluster: %v\n%s", err, out)
		}
	})
	run("pg_ctlcluster", version, name, "start")

	// The failover: b is promoted; a, still primary, must be demoted.
	b.Exec(t, "SELECT pg_promote()")
	testenv.WaitForReason(t, 60*time.Second, "b promoted", func() (bool, string) {
		var r bool
		err := query(b, "SELECT pg_is_in_recovery()", &r)
		return err == nil && !r, fmt.Sprint(r, err)
	})
	b.Exec(t, "INSERT INTO calls VALUES (100)")

	m, err := New(Config{
		DSN: a.DSN(), DemoteCommand: []string{scriptPath(t)}, DemoteTimeout: 3 * time.Minute,
		StopCommand: asOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", a.DataDir, "-m", "immediate", "-w"),
		Env:         []string{"PG_CLUSTER=" + version + "/" + name},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := m.Demote(ctx, DemoteArgs{Node: "node-a", PeerHost: "127.0.0.1", PeerPort: b.Port})
	if err != nil {
		out, _ := exec.Command("pg_lsclusters").CombinedOutput()
		t.Fatalf("Demote with PG_CLUSTER: %v%s\n%s", err, dumpSteps(res), out)
	}
	if res.Before != RolePrimary || res.After != RoleStandby || stepNames(res) != "read role,demote command,verify" {
		t.Errorf("got %s → %s by %s, want primary → standby by the demote command%s", res.Before, res.After, stepNames(res), dumpSteps(res))
	}
	// Running under pg_ctlcluster (its pid file in the cluster's run dir)
	// and streaming the new primary's writes.
	out, err := exec.Command("pg_lsclusters", "--no-header", version, name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "online,recovery") {
		t.Errorf("pg_lsclusters: %q %v, want the cluster online in recovery", out, err)
	}
	waitCount(t, a, "SELECT count(*) FROM calls WHERE id = 100", 1)
}
