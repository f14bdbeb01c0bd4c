package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
	"github.com/pbxha/pbxha/test/pgtest"
)

// TestInNamespaces runs a primary in one network namespace and its
// streaming standby in another, both on port 5432 of their own address: the
// standby streams from the primary's namespace address, the helpers reach
// both from inside their namespaces, the test's own namespace reaches
// neither, and a server restarted outside pgtest (pg_ctl, as a demote
// script does) is stopped when the test ends.
func TestInNamespaces(t *testing.T) {
	topo := netns.New(t, netns.Options{Hosts: []string{"db1", "db2"}})
	h1, h2 := topo.Host("db1"), topo.Host("db2")
	// Registered before the clusters, so it runs after their cleanup.
	var restarted int
	t.Cleanup(func() {
		if restarted != 0 && processIs(restarted, "postgres") {
			t.Errorf("postmaster %d started by pg_ctl still runs after pgtest's cleanup", restarted)
		}
	})
	p := pgtest.StartPrimary(t, pgtest.Options{
		HBA: []string{"host all all 198.18.0.0/24 trust", "host replication all 198.18.0.0/24 trust"},
		Net: pgtest.Net{Namespace: h1.NS, Listen: "*", Host: h1.IP.String(), Port: 5432},
	})
	s := p.StartStandby(t, pgtest.Net{Namespace: h2.NS, Listen: "*", Host: h2.IP.String(), Port: 5432})
	if got, want := s.DSN(), "postgres://postgres@"+h2.IP.String()+":5432/postgres?sslmode=disable"; got != want {
		t.Errorf("standby DSN: got %q, want %q", got, want)
	}

	p.Exec(t, "CREATE TABLE t (v int)")
	p.Exec(t, "INSERT INTO t VALUES (42)")
	testenv.WaitFor(t, 30*time.Second, "row replicated to the standby in the other namespace", func() bool {
		return s.TryExec("DO $$ BEGIN PERFORM 1 FROM t WHERE v = 42; IF NOT FOUND THEN RAISE 'not yet'; END IF; END $$") == nil
	})
	var addr string
	p.QueryRow(t, "SELECT client_addr::text FROM pg_stat_replication", nil, &addr)
	if want := h2.IP.String() + "/32"; addr != want {
		t.Errorf("standby's address in pg_stat_replication: got %q, want %q", addr, want)
	}
	if err := connectErr(p.DSN(), time.Second); err == nil {
		t.Errorf("connect to %s from the test's own namespace: got nil, want an error", p.DSN())
	}

	// The standby is stopped and restarted by pg_ctl, outside pgtest, in its
	// namespace; the test's cleanup must still stop it.
	s.StopFast(t)
	bin := pgtest.BinDir(t)
	argv := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "start", "-D", s.DataDir, "-w", "-o", "-p 5432", "-l", s.DataDir+".restart.log")
	ctx, cancel := context.WithTimeout(context.Background(), pgtest.StartTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h2.NS}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	restarted = s.PID(t)
	var inRecovery bool
	s.QueryRow(t, "SELECT pg_is_in_recovery()", nil, &inRecovery)
	if !inRecovery {
		t.Errorf("restarted standby pg_is_in_recovery: got false, want true")
	}
}

// processIs reports whether pid is a live process running program.
func processIs(pid int, program string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), "("+program+")") && !strings.Contains(string(b), ") Z ")
}
