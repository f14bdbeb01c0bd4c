package test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/mariadbtest"
	"github.com/pbxha/pbxha/test/netns"
)

// mysqlMaxLag is max_lag_transactions of the MariaDB pair: low, so that a
// few thousand filler rows put a cut-off replica beyond it, yet well above
// what the client's writes (50 a second) add in the seconds a replica
// spends cut off while a switchover waits for it to replicate again.
const mysqlMaxLag = 1000

// mysqlPair is a pairFixture whose nodes also run MariaDB: a primary on n1
// and its GTID replica on n2 at first, each listening on port 3306 of its
// namespace (and so on the VIP once the node holds it).
type mysqlPair struct {
	*pairFixture
	db map[*pairNode]*mariadbtest.Server
}

// startMySQLPair builds the namespaces, the two MariaDB servers and the two
// pbxha nodes with their test PBXs, a mysql probe and a database section of
// kind mariadb.
func startMySQLPair(t testing.TB) *mysqlPair {
	pbxha, testpbx := build(t)
	topo := netns.New(t, netns.Options{Hosts: []string{"n1", "n2", "client"}})
	h1, h2, client := topo.Host("n1"), topo.Host("n2"), topo.Host("client")
	prim := mariadbtest.StartPrimary(t, mariadbtest.Options{
		// Durable commits, as a PBX's database has them.
		Settings: []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"},
		Net:      mariadbtest.Net{Namespace: h1.NS, Listen: "0.0.0.0", Host: h1.IP.String(), Port: 3306},
	})
	repl := prim.StartReplica(t, mariadbtest.Net{Namespace: h2.NS, Listen: "0.0.0.0", Host: h2.IP.String(), Port: 3306})
	tb := startTieBreaker(t, client, client.IP.String()+":7000")
	key := filepath.Join(t.TempDir(), "pbxha.key")
	if err := failover.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	f := &mysqlPair{pairFixture: &pairFixture{t: t, pbxha: pbxha, client: client}, db: map[*pairNode]*mariadbtest.Server{}}
	for _, n := range []struct {
		host, peer *netns.Host
		db         *mariadbtest.Server
	}{{h1, h2, prim}, {h2, h1, repl}} {
		node := startMySQLPairNode(t, n.host, n.peer, pbxha, testpbx, key, tb)
		f.db[node] = n.db
		f.nodes = append(f.nodes, node)
	}
	f.n1, f.n2 = f.nodes[0], f.nodes[1]
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range f.nodes {
				t.Logf("--- %s MariaDB log:\n%s", n.host.Name, f.db[n].Log())
			}
		}
	})
	return f
}

// startMySQLPairNode runs the test PBX and pbxha in host's namespace, with
// a mysql probe and a database section of kind mariadb on the local server
// as the pbxha user. pbxha is stopped before the servers when the test
// ends.
func startMySQLPairNode(t testing.TB, host, peer *netns.Host, pbxha, testpbx, key, tieBreaker string) *pairNode {
	t.Helper()
	dir := t.TempDir()
	n := &pairNode{host: host, socket: filepath.Join(dir, "pbxha.sock"), log: filepath.Join(dir, "pbxha.log")}
	if out, err := host.Run("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
		t.Fatalf("%s: sysctl: %v\n%s", host.Name, err, out)
	}
	for _, addr := range []string{host.IP.String(), pairVIP} {
		pbx, err := host.Start(testpbx, "-listen", addr+":5060", "-transport", "udp")
		if err != nil {
			t.Fatal(err)
		}
		n.pbx = append(n.pbx, pbx)
	}
	dsn := fmt.Sprintf("%s:%s@tcp(%s:3306)/%s", mariadbtest.PbxhaUser, mariadbtest.PbxhaPassword, host.IP, mariadbtest.PbxhaDB)
	cfg := fmt.Sprintf(`node: {name: %[1]s, cluster: lab}
control: {socket: %[2]s}
state_dir: %[3]s
probes:
  sip:
    - {name: pbx, target: "sip:%[4]s:5060;transport=udp"}
  mysql:
    - {name: db, dsn: "%[11]s", expect_role: any, interval: 500ms, timeout: 400ms, rise: 1, fall: 3}
peer:
  paths:
    - {local: "%[4]s:7946", peer: "%[5]s:7946"}
  key_file: %[6]s
failover:
  tie_breakers: ["%[7]s"]
vip:
  mode: netlink
  interface: %[8]s
  address: %[9]s/32
  label: "%[10]s"
database:
  kind: mariadb
  dsn: "%[11]s"
  max_lag_transactions: %[12]d
  stop_timeout: 10s
  demote_timeout: 60s
`, host.Name, n.socket, dir, host.IP, peer.IP, key, tieBreaker, host.Link, pairVIP, host.Link+":vip", dsn, mysqlMaxLag)
	cfgPath := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, err := host.Start("sh", "-c", fmt.Sprintf("exec %s run -c %s >%s 2>&1", pbxha, cfgPath, n.log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return n
}

// dbState reads a node's server: read_only, and the host its IO thread is
// connected to ("" when it does not replicate).
func (f *mysqlPair) dbState(n *pairNode) (readOnly bool, source string, err error) {
	return f.db[n].ReplicaState()
}

// replicates returns a condition: n's server is read-only and streams from
// from's.
func (f *mysqlPair) replicates(n, from *pairNode) func() bool {
	return func() bool {
		ro, src, err := f.dbState(n)
		return err == nil && ro && src == from.host.IP.String()
	}
}

// missing returns the acknowledged ids that n's server lacks.
func (f *mysqlPair) missing(n *pairNode, acked []int32) []int32 {
	have := map[int32]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", f.db[n].AdminDSN())
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT id FROM pbx.writes")
	if err != nil {
		f.t.Fatalf("%s: read the writes: %v", n.host.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		have[id] = true
	}
	var out []int32
	for _, id := range acked {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// mysqlVIPConn is a vipConn to MariaDB through the VIP as the PBX's own
// user (app), whom read_only stops: one pooled connection, dropped by the
// driver after an error or a deadline.
type mysqlVIPConn struct{ db *sql.DB }

func newMySQLVIPConn(t testing.TB, f *pairFixture) *mysqlVIPConn {
	network := "client-" + f.client.NS
	mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (c net.Conn, err error) {
		err = f.client.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	})
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.DBName = mariadbtest.AppUser, mariadbtest.AppPassword, mariadbtest.AppDB
	mc.Net, mc.Addr = network, pairVIP+":3306"
	mc.InterpolateParams = true // one round trip per insert
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return &mysqlVIPConn{db: db}
}

func (c *mysqlVIPConn) write(ctx context.Context, id int32) error {
	_, err := c.db.ExecContext(ctx, "INSERT INTO writes (id) VALUES (?)", id)
	return err
}

func (c *mysqlVIPConn) close() { _ = c.db.Close() }

// TestPairMariaDBInNamespaces runs two real pbxha nodes in network
// namespaces, each with a test PBX and a real MariaDB on its namespace
// address — a primary on n1, its GTID replica on n2 — and a client that
// writes a row every ~20 ms as the PBX's user and sends SIP OPTIONS
// through the VIP. A planned switchover to n2, then a hung PBX on n2 that
// moves the service back to n1: each time the service returns through the
// VIP, never two VIP holders meanwhile, every write acknowledged before is
// on the new primary, and the old primary rejoins as a read-only replica of
// the new one. A planned switchover waits while no replica is connected.
// Then no promotion beyond max_lag_transactions: n2's
// replication stops and n1 commits more; when n1's node is lost n2 stays a
// replica and says why, until `pbxha switchover --force` promotes it; when
// the link heals n1 releases and stays read-only (it holds transactions n2
// lacks, so it cannot follow n2), and exactly one database is writable.
func TestPairMariaDBInNamespaces(t *testing.T) {
	f := startMySQLPair(t)
	f.wait(40*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	f.db[f.n1].Exec(t, "CREATE TABLE pbx.writes (id INT PRIMARY KEY, at DATETIME(6) DEFAULT NOW(6))")
	f.wait(30*time.Second, "n2's server replicating from n1", f.replicates(f.n2, f.n1))

	healthyStandby := func(n *pairNode) func() bool {
		return func() bool {
			s, err := n.status(t)
			return err == nil && s.Role == "standby" && s.Health == "healthy" && s.Pair != nil && s.Pair.Peer.Alive
		}
	}
	l := startLoad(t, f.pairFixture, newMySQLVIPConn(t, f.pairFixture), 10*time.Minute)
	move := func(from, to *pairNode, what string, cause func(), after func()) {
		t.Helper()
		f.wait(30*time.Second, to.host.Name+" a healthy standby before the "+what, healthyStandby(to))
		acked, sip := len(l.snapshot()), l.sipOK.Load()
		f.wait(20*time.Second, "writes and SIP through the VIP before the "+what, func() bool {
			return len(l.snapshot()) >= acked+20 && l.sipOK.Load() >= sip+10
		})
		cause()
		f.waitOneHolder(60*time.Second, to.host.Name+" serving the VIP after the "+what, f.settled(to))
		if after != nil {
			after()
		}
		if ro, _, err := f.dbState(to); err != nil || ro {
			f.dump()
			t.Fatalf("%s's database after the %s: read_only %v (%v), want writable", to.host.Name, what, ro, err)
		}
		acked, sip = len(l.snapshot()), l.sipOK.Load()
		f.waitOneHolder(30*time.Second, "writes and SIP through the VIP after the "+what, func() bool {
			return len(l.snapshot()) >= acked+20 && l.sipOK.Load() >= sip+10
		})
		all := l.snapshot()
		if miss := f.missing(to, all); len(miss) > 0 {
			f.dump()
			t.Fatalf("%d of %d acknowledged writes are missing on the new primary %s: %v", len(miss), len(all), to.host.Name, miss)
		}
		f.waitOneHolder(60*time.Second, from.host.Name+"'s server replicating from "+to.host.Name, f.replicates(from, to))
		f.waitOneHolder(30*time.Second, from.host.Name+" a healthy standby again", healthyStandby(from))
		t.Logf("%s to %s: %d writes acknowledged so far, none lost", what, to.host.Name, len(all))
	}
	// The switchover command runs while waitOneHolder polls the VIP.
	var swOut bytes.Buffer
	swDone := make(chan error, 1)
	move(f.n1, f.n2, "switchover", func() {
		cmd := exec.Command(f.pbxha, "switchover", "--socket", f.n1.socket, "--to", f.n2.host.Name, "--drain-timeout", "0s", "--timeout", "60s")
		cmd.Stdout, cmd.Stderr = &swOut, &swOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { swDone <- cmd.Wait() }()
	}, func() {
		if err := <-swDone; err != nil || !strings.Contains(swOut.String(), "done") {
			f.dump()
			t.Fatalf("pbxha switchover --to n2: %v\n%s", err, swOut.String())
		}
	})
	move(f.n2, f.n1, "hung PBX", func() { f.n2.signalPBX(t, syscall.SIGSTOP) },
		func() { f.n2.signalPBX(t, syscall.SIGCONT) })
	mysqlNoStreamingWaits(t, f, f.n1, f.n2, l)
	l.stop()
	all := l.snapshot()
	f.wait(30*time.Second, "every acknowledged write replicated to n2", func() bool { return len(f.missing(f.n2, all)) == 0 })

	// No promotion beyond max_lag_transactions: n2's replication stops, n1
	// commits on until n2's pbxha sees itself too far behind.
	standby, prim := f.n2, f.n1
	f.db[standby].Exec(t, "STOP SLAVE")
	f.db[prim].Exec(t, "CREATE TABLE pbx.filler (id INT AUTO_INCREMENT PRIMARY KEY)")
	// Twice the limit: the positions in a status and in the decision come
	// from readings a probe interval apart.
	f.wait(30*time.Second, "n2 seeing itself well beyond max_lag_transactions", func() bool {
		if s, err := standby.status(t); err == nil && s.Pair != nil && s.Pair.Peer.LagBytes > 2*mysqlMaxLag {
			return true
		}
		for range 200 {
			f.db[prim].Exec(t, "INSERT INTO pbx.filler VALUES ()")
		}
		return false
	})
	if s, err := standby.status(t); err != nil || s.Pair == nil || !strings.HasPrefix(s.Pair.Peer.WAL, "gtid ") {
		t.Errorf("n2's status of the peer's position: got %+v (%v), want \"gtid N\"", s.Pair, err)
	}
	if err := prim.host.LinkDown(); err != nil {
		t.Fatal(err)
	}
	linkUp := func() {
		if err := prim.host.LinkUp(); err != nil {
			t.Error(err)
		}
	}
	defer linkUp()
	f.wait(20*time.Second, "n2 refusing to take over because it is behind", func() bool {
		s, err := standby.status(t)
		return err == nil && s.Pair != nil && !s.Pair.Peer.Alive && strings.Contains(s.Pair.Reason, "behind")
	})
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		s, err := standby.status(t)
		ro, _, dberr := f.dbState(standby)
		if err != nil || s.Role != "standby" || standby.holdsVIP(t) || dberr != nil || !ro {
			f.dump()
			t.Fatalf("n2 took over while behind: role %s, VIP %v, read_only %v (%v, %v)", s.Role, standby.holdsVIP(t), ro, err, dberr)
		}
	}
	out, err := exec.Command(f.pbxha, "switchover", "--socket", standby.socket, "--to", standby.host.Name,
		"--force", "--drain-timeout", "0s", "--timeout", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		f.dump()
		t.Fatalf("pbxha switchover --force on n2: %v\n%s", err, out)
	}
	f.wait(20*time.Second, "n2 primary with the VIP and a writable database", func() bool {
		ro, _, err := f.dbState(standby)
		return standby.role(t) == "primary" && standby.holdsVIP(t) && err == nil && !ro
	})

	// The link heals: n1 (which stepped down, alone) stays a read-only
	// standby: it holds the filler n2 never received, and MariaDB refuses
	// to replicate a server that is ahead of its source.
	linkUp()
	f.wait(60*time.Second, "one primary, n2, after the link healed", f.settled(standby))
	f.waitOneHolder(90*time.Second, "n1's rejoin failing and saying why", func() bool {
		return strings.Contains(prim.logs(), "database rejoin failed") && strings.Contains(prim.logs(), "rebuild it from the new primary")
	})
	writable := 0
	for _, n := range f.nodes {
		if ro, _, err := f.dbState(n); err == nil && !ro {
			writable++
		}
	}
	if writable != 1 {
		t.Errorf("got %d writable databases after the link healed, want 1", writable)
	}
	if err := testenv.Poll(time.Second, func() (bool, string) { return prim.role(t) == "standby", prim.role(t) }); err != nil {
		f.dump()
		t.Errorf("n1 after the healed link: %v, want standby", err)
	}
}

// mysqlNoStreamingWaits: a planned switchover waits while no replica is
// connected to the primary's server, since the promoted target would lack
// what it has not received. stby's replication stops while the client
// writes on; prim's mysql probe sees no replica; `pbxha switchover
// --timeout 5s` to stby times out and says why, prim keeps the VIP and a
// writable server, and the ended request moves nothing once stby
// replicates again.
func mysqlNoStreamingWaits(t *testing.T, f *mysqlPair, prim, stby *pairNode, l *dbLoad) {
	t.Helper()
	// Eligible: a standby healthy again after its PBX hung waits out twice
	// dead_after (2 s) first; else the switchover would wait for that.
	var since time.Time
	f.waitOneHolder(30*time.Second, stby.host.Name+" a healthy standby for 3s", func() bool {
		s, err := stby.status(t)
		if err != nil || s.Role != "standby" || s.Health != "healthy" {
			since = time.Time{}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) > 3*time.Second
	})
	f.db[stby].Exec(t, "STOP SLAVE")
	f.waitOneHolder(20*time.Second, prim.host.Name+"'s mysql probe seeing no replica", func() bool {
		s, err := prim.status(t)
		if err != nil {
			return false
		}
		for _, p := range s.Probes {
			if p.Kind == "mysql" && p.Last != nil && p.Last.Status == "ok" {
				n, read := p.Last.Values["replicas"]
				return read && n == 0 && strings.Contains(p.Last.Detail, "no replicas")
			}
		}
		return false
	})
	acked := len(l.snapshot())
	out, err := exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--to", stby.host.Name,
		"--drain-timeout", "0s", "--timeout", "5s").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "timed out") ||
		!strings.Contains(string(out), "no standby is streaming from this node's database") {
		f.dump()
		t.Fatalf("pbxha switchover to %s while no replica is connected to %s: got %v\n%s\nwant exit 1, timed out, the reason naming the streaming standby", stby.host.Name, prim.host.Name, err, out)
	}
	if ro, _, err := f.dbState(prim); prim.role(t) != "primary" || !prim.holdsVIP(t) || stby.holdsVIP(t) || err != nil || ro {
		f.dump()
		t.Fatalf("after the refused switchover: %s role %s, VIP %v, read_only %v (%v); want primary with the VIP and a writable server",
			prim.host.Name, prim.role(t), prim.holdsVIP(t), ro, err)
	}
	f.waitOneHolder(20*time.Second, "writes through the VIP while the switchover waited", func() bool { return len(l.snapshot()) >= acked+20 })
	f.db[stby].Exec(t, "START SLAVE")
	f.waitOneHolder(30*time.Second, stby.host.Name+" replicating from "+prim.host.Name+" again", f.replicates(stby, prim))
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if prim.role(t) != "primary" || !prim.holdsVIP(t) {
			f.dump()
			t.Fatalf("%s released after the switchover had timed out", prim.host.Name)
		}
	}
}
