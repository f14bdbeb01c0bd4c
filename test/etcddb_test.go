package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/test/netns"
	"github.com/pbxha/pbxha/test/pgtest"
)

// startEtcdPG starts the etcd cluster of TestEtcdCluster with PostgreSQL on
// n1 (the primary, priority 200) and n2 (its streaming standby, priority
// 100); n3 runs no database and never leads (priority 0). The database
// section is the pair's (configs/pg-demote.sh as the demote command,
// pg_ctl stop as the stop command), with PRIMARY_CONNINFO on the VIP:
// the new leader holds it once it promoted.
func startEtcdPG(t testing.TB) (*etcdFixture, *pgPair) {
	demote, err := filepath.Abs("../configs/pg-demote.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin := pgtest.BinDir(t)
	dbs := map[string]*pgtest.Cluster{}
	quote := func(argv []string) string { return `["` + strings.Join(argv, `", "`) + `"]` }
	opts := etcdClusterOpts{nodes: []etcdNodeOpts{{priority: 200}, {priority: 100}, {priority: -1}}}
	// The database keys name the clusters, which exist only once before
	// ran: it fills them into opts.nodes, whose backing array the copy
	// startEtcdClusterWith holds shares.
	opts.before = func(f *etcdFixture, topo *netns.Topology) {
		h1, h2 := topo.Host("n1"), topo.Host("n2")
		prim := pgtest.StartPrimary(t, pgtest.Options{
			Settings: []string{"wal_log_hints = on", "full_page_writes = on", "wal_keep_size = 128MB", "synchronous_commit = on"},
			HBA:      []string{"host all all 198.18.0.0/24 trust", "host replication all 198.18.0.0/24 trust"},
			Net:      pgtest.Net{Namespace: h1.NS, Listen: "*", Host: h1.IP.String(), Port: 5432},
		})
		dbs["n1"] = prim
		dbs["n2"] = prim.StartStandby(t, pgtest.Net{Namespace: h2.NS, Listen: "*", Host: h2.IP.String(), Port: 5432})
		for i, name := range []string{"n1", "n2"} {
			db := dbs[name]
			stop := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", db.DataDir, "-m", "fast", "-w")
			opts.nodes[i].probes = fmt.Sprintf("  pg:\n    - {name: db, dsn: \"%s\", expect_role: any, interval: 500ms, timeout: 400ms, rise: 1, fall: 3, fresh_conn_every: 0s}\n", db.DSN())
			// A fast shutdown of these small databases takes well under
			// the 350ms budget, which a 1s lease allows (docs/etcd.md).
			opts.nodes[i].extra = fmt.Sprintf(`failover:
  step_down_budget: 350ms
database:
  dsn: "%[1]s"
  max_lag_bytes: %[2]d
  demote_command: ["/bin/bash", "-c", "set -o pipefail; \"$0\" 2>&1 | tee -a \"$1\"", "%[3]s", "%[4]s"]
  demote_timeout: 60s
  stop_command: %[5]s
  stop_timeout: 30s
  env: ["PGDATA=%[6]s", "PGBIN=%[7]s", "PG_CTL_OPTS=-p 5432", "PG_STOP_TIMEOUT=20", "PRIMARY_CONNINFO=host=%[8]s port=5432 user=postgres dbname=postgres"]
`, db.DSN(), pgMaxLag, demote, db.DataDir+".demote.log", quote(stop), db.DataDir, bin, pairVIP)
		}
	}
	f := startEtcdClusterWith(t, opts)
	pf := &pgPair{pairFixture: &f.pairFixture, db: map[*pairNode]*pgtest.Cluster{}, bin: bin, demote: demote}
	pf.db[f.nodes[0]], pf.db[f.nodes[1]] = dbs["n1"], dbs["n2"]
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range f.nodes[:2] {
				db := pf.db[n]
				demoted, _ := os.ReadFile(db.DataDir + ".demote.log")
				t.Logf("--- %s database log:\n%s\n--- pg-demote.sh:\n%s", n.host.Name, db.Log(), demoted)
			}
		}
	})
	return f, pf
}

// etcdStreams reports whether stby's database streams from prim's: from
// its address, or from the VIP (PRIMARY_CONNINFO) while prim holds it.
func etcdStreams(t testing.TB, pf *pgPair, prim, stby *pairNode) bool {
	rec, sender, err := pf.dbState(stby)
	if err != nil || !rec {
		return false
	}
	return sender == prim.host.IP.String() || (sender == pairVIP && prim.holdsVIP(t))
}

// TestEtcdDatabase runs the etcd cluster with PostgreSQL on two of its
// three nodes while the client writes a row through the VIP every 20 ms and
// sends SIP OPTIONS: a planned switchover from n1 to n2 loses no
// acknowledged write and n1 rejoins as a standby of n2; then n2, the
// leader, is cut off from etcd: it stops its database before n1 promotes
// (never two writable databases), no acknowledged write is lost, and after
// the heal n2 rejoins as a standby of n1; last, a switchover without a
// target asked on n1 (the highest priority) moves the service to n2, and
// n1 rejoins as its standby. n3, without a database, never leads.
func TestEtcdDatabase(t *testing.T) {
	f, pf := startEtcdPG(t)
	n1, n2, n3 := f.nodes[0], f.nodes[1], f.nodes[2]
	f.wait(40*time.Second, "n1 leading and serving the VIP", f.settled(n1))
	pf.db[n1].Exec(t, "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")
	streamsFrom := func(n, from *pairNode) func() bool {
		return func() bool { return etcdStreams(t, pf, from, n) }
	}
	f.wait(30*time.Second, "n2's database streaming from n1", streamsFrom(n2, n1))
	l := startDBLoad(t, pf, 10*time.Minute)
	flowing := func(what string) {
		t.Helper()
		acked, sip := len(l.snapshot()), l.sipOK.Load()
		f.wait(30*time.Second, what, func() bool { return len(l.snapshot()) >= acked+20 && l.sipOK.Load() >= sip+10 })
	}
	writable := func(n *pairNode) bool {
		rec, _, err := pf.dbState(n)
		return err == nil && !rec
	}
	// Every poll of a wait below also checks that the two databases are
	// never writable at once.
	oneWritable := func(what string, cond func() bool) {
		t.Helper()
		f.wait(60*time.Second, what, func() bool {
			if writable(n1) && writable(n2) && writable(n1) {
				f.dump()
				t.Fatalf("both databases writable (waiting for %s)", what)
			}
			return cond()
		})
	}
	flowing("writes and SIP through the VIP")
	f.wait(20*time.Second, "n2 eligible", func() bool {
		st, err := n1.status(t)
		if err != nil {
			return false
		}
		for _, n := range st.Pair.Nodes {
			if n.Node == "n2" && n.Role == "standby" && n.Health == "healthy" {
				return true
			}
		}
		return false
	})

	var out bytes.Buffer
	cmd := exec.Command(f.pbxha, "switchover", "--socket", n1.socket, "--to", "n2", "--drain-timeout", "0s", "--timeout", "60s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "done") {
		f.dump()
		t.Fatalf("pbxha switchover --to n2: %v\n%s", err, out.String())
	}
	t.Logf("switchover to n2:\n%s", out.String())
	oneWritable("n2 serving, n1 streaming from n2", func() bool { return f.settled(n2)() && streamsFrom(n1, n2)() })
	flowing("writes and SIP through the VIP after the switchover")
	acked := l.snapshot()
	if miss := pf.missing(n2, acked); len(miss) > 0 {
		t.Fatalf("n2 lacks %d acknowledged rows after the switchover: %v", len(miss), miss)
	}

	// n2, the leader, loses etcd.
	cut := time.Now()
	f.cutFromEtcd(t, n2)
	oneWritable("n1 leading, n2's database not writable", func() bool { return f.settled(n1)() && !writable(n2) })
	down, up := roleChangeAt(t, n2, "standby"), roleChangeAt(t, n1, "primary")
	t.Logf("cut at +0: n2 stepped down at +%s, n1 leads from +%s", down.Sub(cut).Round(time.Millisecond), up.Sub(cut).Round(time.Millisecond))
	if !up.After(down) {
		t.Errorf("got n1 leading at %v, before n2 stepped down at %v", up, down)
	}
	flowing("writes and SIP through the VIP after the cut")
	acked = l.snapshot()
	if miss := pf.missing(n1, acked); len(miss) > 0 {
		t.Fatalf("n1 lacks %d acknowledged rows after n2 was cut off: %v", len(miss), miss)
	}
	n2.heal(t)
	oneWritable("n2 streaming from n1 again", streamsFrom(n2, n1))

	// A switchover without --to, asked on n1 (priority 200, leading): the
	// service moves away from it, though it ranks first, and n2 — which
	// streams through the VIP — takes over; n1's release stops its
	// database before the VIP goes, so its WAL sender finishes first.
	flowing("writes and SIP through the VIP before the switchover away from n1")
	out.Reset()
	cmd = exec.Command(f.pbxha, "switchover", "--socket", n1.socket, "--drain-timeout", "0s", "--timeout", "60s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "primary n2") {
		f.dump()
		t.Fatalf("pbxha switchover (no --to) on n1: %v\n%s", err, out.String())
	}
	t.Logf("switchover away from n1:\n%s", out.String())
	oneWritable("n2 serving, n1 streaming from n2", func() bool { return f.settled(n2)() && streamsFrom(n1, n2)() })
	flowing("writes and SIP through the VIP after the switchover away from n1")
	acked = l.snapshot()
	if miss := pf.missing(n2, acked); len(miss) > 0 {
		t.Fatalf("n2 lacks %d acknowledged rows after the switchover away from n1: %v", len(miss), miss)
	}
	if n3.role(t) != "standby" {
		t.Errorf("got n3 %s, want standby (priority 0, no database)", n3.role(t))
	}
	l.stop()
}

// BenchmarkEtcdDatabaseOutage measures, on the cluster of TestEtcdDatabase
// (PostgreSQL on n1 and n2, lease_ttl 1s), the SIP and write outage a
// client sees through the VIP per scenario, as BenchmarkPairDatabaseOutage
// does for a pair (switchover, hung_pbx), and when the leader's node is
// lost (its link down until another node serves through the VIP; its
// database stopped by the step-down rejoins through the VIP afterwards):
//
//	go test -run '^$' -bench BenchmarkEtcdDatabaseOutage -benchtime 5x ./test
func BenchmarkEtcdDatabaseOutage(b *testing.B) {
	f, pf := startEtcdPG(b)
	b.Cleanup(func() {
		if b.Failed() {
			f.dump()
		}
	})
	n1 := f.nodes[0]
	f.wait(40*time.Second, "n1 leading and serving the VIP", f.settled(n1))
	pf.db[n1].Exec(b, "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")
	w := startVIPWriter(b, pf)
	streams := func(prim, stby *pairNode) bool { return etcdStreams(b, pf, prim, stby) }
	databaseOutage(b, &f.pairFixture, w, streams)
	b.Run("node_lost", func(b *testing.B) {
		var writes []float64
		for range b.N {
			f.wait(120*time.Second, "a leader with a streaming standby and writes flowing", func() bool {
				prim := f.primary()
				return prim != nil && w.flowing() && f.settled(prim)() && streams(prim, f.other(prim))
			})
			prim := f.primary()
			start := time.Now()
			if err := prim.host.LinkDown(); err != nil {
				b.Fatal(err)
			}
			var d time.Duration
			f.wait(60*time.Second, "writes through the VIP again", func() bool {
				var ok bool
				d, ok = w.outage(start)
				return ok
			})
			if err := prim.host.LinkUp(); err != nil {
				b.Fatal(err)
			}
			writes = append(writes, ms(d))
		}
		b.ReportMetric(median(writes), "write-median-ms")
		b.ReportMetric(slices.Min(writes), "write-min-ms")
		b.ReportMetric(slices.Max(writes), "write-max-ms")
	})
	f.wait(120*time.Second, "a streaming standby after the last trial", func() bool {
		prim := f.primary()
		return prim != nil && streams(prim, f.other(prim))
	})
}
