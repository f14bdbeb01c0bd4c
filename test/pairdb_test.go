package test

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/pgtest"
)

// TestPairMovesDatabase runs a pair on loopback (no VIP), each node with its
// test PBX and a real PostgreSQL — a primary on node-a, its streaming
// standby on node-b. When node-a's PBX hangs, node-a releases and stops its
// database (no demote command configured: "a database that cannot be
// demoted is stopped"), node-b promotes its standby after checking it is
// caught up with the WAL position node-a announced, and every row written
// before is on the new primary.
func TestPairMovesDatabase(t *testing.T) {
	pbxha, testpbx := build(t)
	bin := pgtest.BinDir(t)
	prim := pgtest.StartPrimary(t, pgtest.Options{})
	stby := prim.StartStandby(t)
	pbxA := testenv.StartTestPBX(t, testpbx)
	sipA, sipB := pbxA.UDP, testenv.StartTestPBX(t, testpbx).UDP

	tb := startTieBreaker(t, nil, "127.0.0.1:0")
	key := newPairKey(t)
	hbA, hbB := testenv.FreeAddrOn(t, "127.0.0.1"), testenv.FreeAddrOn(t, "127.0.0.2")
	stopCmd := func(c *pgtest.Cluster) string {
		argv := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", c.DataDir, "-m", "fast", "-w")
		return `["` + strings.Join(argv, `", "`) + `"]`
	}
	dirs := map[string]string{}
	node := func(name, sip, local, peer string, db *pgtest.Cluster) (socket string, d *proc) {
		socket, dirs[name], d = loopbackNode{Name: name, SIP: sip, Local: local, Peer: peer, Key: key, TieBreaker: tb,
			Probes: fmt.Sprintf(`  pg:
    - {name: db, dsn: "%s", expect_role: any, interval: 300ms, timeout: 250ms, rise: 1, fall: 2, fresh_conn_every: 0s}
`, db.DSN()),
			Top: fmt.Sprintf(`database:
  dsn: "%s"
  stop_command: %s
  stop_timeout: 30s
hooks:
  takeover:
    - {name: record, command: ["/bin/sh", "-c", "env | grep ^PBXHA_ | sort > {dir}/takeover.env"], timeout: 5s}
  release:
    - {name: record, command: ["/bin/sh", "-c", "env | grep ^PBXHA_ | sort > {dir}/release.env"], timeout: 5s}
`, db.DSN(), stopCmd(db))}.start(t, pbxha)
		return socket, d
	}
	sockA, dA := node("node-a", sipA, hbA, hbB, prim)
	sockB, dB := node("node-b", sipB, hbB, hbA, stby)
	dump := func() { t.Logf("node-a:\n%s\nnode-b:\n%s", dA.output(), dB.output()) }
	both := []string{sockA, sockB}
	waitRoles(t, 30*time.Second, "node-a primary with the primary database", dump, both, "primary", "standby")

	prim.Exec(t, "CREATE TABLE calls (id int PRIMARY KEY)")
	prim.Exec(t, "INSERT INTO calls SELECT generate_series(1, 1000)")

	// The standby knows the primary's WAL position from the heartbeats.
	testenv.WaitForReason(t, 20*time.Second, "node-b's status to show the peer's WAL position", func() (bool, string) {
		st, err := status(t, sockB)
		if err == nil && st.Pair != nil && st.Pair.Peer.WAL != "" && st.Pair.Peer.LagBytes < 1<<20 {
			return true, ""
		}
		return false, fmt.Sprintf("pair %+v, %v", st.Pair, err)
	})

	testenv.Freeze(t, pbxA.PID)
	waitRoles(t, 30*time.Second, "node-b primary after node-a's PBX hung", dump, both, "standby", "primary")
	var inRecovery bool
	var rows int
	stby.QueryRow(t, "SELECT pg_is_in_recovery(), (SELECT count(*) FROM calls)", nil, &inRecovery, &rows)
	if inRecovery || rows != 1000 {
		dump()
		t.Fatalf("node-b's database: got in_recovery %v with %d rows, want the promoted primary with all 1000", inRecovery, rows)
	}
	stby.Exec(t, "INSERT INTO calls VALUES (1001)")
	if err := prim.TryExec("INSERT INTO calls VALUES (2000)"); err == nil {
		t.Errorf("node-a's old primary database still takes writes after node-a released: two writable primaries")
	}
	testenv.Thaw(t, pbxA.PID)
	if !strings.Contains(dB.output(), "failover") && !strings.Contains(dB.output(), "taking over") {
		t.Errorf("node-b's log does not show the takeover")
	}

	// The hooks ran with the event in their environment.
	for _, c := range []struct {
		node, file string
		want       []string
	}{
		{"node-b", "takeover.env", []string{"PBXHA_EVENT=takeover", "PBXHA_NODE=node-b", "PBXHA_PEER=node-a", "PBXHA_ROLE=primary"}},
		{"node-a", "release.env", []string{"PBXHA_EVENT=release", "PBXHA_NODE=node-a", "PBXHA_PEER=node-b", "PBXHA_ROLE=standby"}},
	} {
		b, err := os.ReadFile(filepath.Join(dirs[c.node], c.file))
		if err != nil {
			t.Errorf("%s: %s hook did not run: %v", c.node, c.file, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w+"\n") {
				t.Errorf("%s %s: lacks %s:\n%s", c.node, c.file, w, b)
			}
		}
		if !strings.Contains(string(b), "PBXHA_EPOCH=") {
			t.Errorf("%s %s: lacks PBXHA_EPOCH:\n%s", c.node, c.file, b)
		}
	}
}

// loopbackNode is one pbxha node of a pair on loopback (no VIP): a SIP
// probe of its test PBX, one heartbeat path, a tie-breaker, and fast test
// timings (SIP every 200ms, fall 2; heartbeat 100ms, dead_after 500ms).
// Probes, Failover and Top add YAML: more probe kinds (indented two
// spaces, under probes:), more failover keys (indented two spaces), and
// more top-level sections; {dir} in them is the node's state directory.
type loopbackNode struct {
	Name, SIP, Local, Peer, Key, TieBreaker string
	InitDead                                string // peer.init_dead; 1s when empty
	Probes, Failover, Top                   string
	Setup                                   func(dir string) // runs before pbxha starts, e.g. to write scripts
}

// start writes the node's config into a new temp dir and runs pbxha on it.
func (n loopbackNode) start(t *testing.T, pbxha string) (socket, dir string, p *proc) {
	t.Helper()
	dir = t.TempDir()
	if n.Setup != nil {
		n.Setup(dir)
	}
	socket = filepath.Join(dir, "pbxha.sock")
	cfg := fmt.Sprintf(`node: {name: %s, cluster: lab}
control: {socket: %s}
state_dir: %s
probes:
  sip:
    - {name: pbx, target: "sip:%s;transport=udp", interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
%speer:
  paths: [{local: "%s", peer: "%s"}]
  key_file: %s
  interval: 100ms
  dead_after: 500ms
  init_dead: %s
failover:
  tie_breakers: ["%s"]
%s%s`, n.Name, socket, dir, n.SIP, n.Probes, n.Local, n.Peer, n.Key, cmp.Or(n.InitDead, "1s"), n.TieBreaker, n.Failover, n.Top)
	cfg = strings.ReplaceAll(cfg, "{dir}", dir)
	path := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return socket, dir, start(t, nil, pbxha, "run", "-c", path)
}
