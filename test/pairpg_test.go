package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
	"github.com/pbxha/pbxha/test/pgtest"
)

// pgMaxLag is max_lag_bytes of the pair in TestPairDatabaseInNamespaces:
// low, so that a few thousand filler rows put a cut-off standby beyond it,
// yet well above the WAL the client's writes make in the seconds a standby
// spends cut off while a switchover waits for it to stream again.
const pgMaxLag = 1 << 20

// pgPair is a pairFixture whose nodes also run PostgreSQL: a primary on n1
// and its streaming standby on n2 at first, each listening on port 5432 of
// its namespace (and so on the VIP once the node holds it).
type pgPair struct {
	*pairFixture
	db     map[*pairNode]*pgtest.Cluster
	tb     *netns.Host   // the tie-breaker's host: the client's, or "tb" (pgPairOptions)
	link   *netlab.Cable // the direct cable between n1 and n2 (pgPairOptions.crossover), or nil
	bin    string        // the PostgreSQL binaries
	demote string        // configs/pg-demote.sh
}

// pgPairOptions shapes startPGPairWith's network.
type pgPairOptions struct {
	// crossover adds a direct link between n1 and n2 beside the switch, as
	// a crossover cable, and a second heartbeat path over it (the first
	// stays on the switch, so the demote command's peer is the peer's
	// switch address).
	crossover bool
	// tieBreakerHost puts the tie-breaker on a host of its own, "tb",
	// instead of on the client.
	tieBreakerHost bool
	// trackLAN tracks each node's switch interface (failover.
	// track_interfaces), as an operator whose clients come over the
	// switch would: a primary whose port goes down hands over.
	trackLAN bool
	// profile, when set, is both nodes' failover.profile ("fast").
	profile string
}

// tieBreakerPort is where the tie-breaker listens on its host.
const tieBreakerPort = "7000"

// startPGPair builds the namespaces, the two PostgreSQL servers and the two
// pbxha nodes with their test PBXs, a pg probe and a database section whose
// demote_command is configs/pg-demote.sh.
func startPGPair(t testing.TB) *pgPair { return startPGPairWith(t, pgPairOptions{}) }

// startPGPairWith is startPGPair on the network opts asks for.
func startPGPairWith(t testing.TB, opts pgPairOptions) *pgPair {
	pbxha, testpbx := build(t)
	demote, err := filepath.Abs("../configs/pg-demote.sh")
	if err != nil {
		t.Fatal(err)
	}
	topts := netns.Options{Hosts: []string{"n1", "n2", "client"}}
	if opts.tieBreakerHost {
		topts.Hosts = append(topts.Hosts, "tb")
	}
	topo := netns.New(t, topts)
	h1, h2, client := topo.Host("n1"), topo.Host("n2"), topo.Host("client")
	tbHost := client
	if opts.tieBreakerHost {
		tbHost = topo.Host("tb")
	}

	// pg_rewind (in pg-demote.sh) needs wal_log_hints, full page writes
	// and the old primary's WAL back to where the timelines diverged.
	prim := pgtest.StartPrimary(t, pgtest.Options{
		Settings: []string{"wal_log_hints = on", "full_page_writes = on", "wal_keep_size = 128MB", "synchronous_commit = on"},
		HBA:      []string{"host all all 198.18.0.0/24 trust", "host replication all 198.18.0.0/24 trust"},
		Net:      pgtest.Net{Namespace: h1.NS, Listen: "*", Host: h1.IP.String(), Port: 5432},
	})
	stby := prim.StartStandby(t, pgtest.Net{Namespace: h2.NS, Listen: "*", Host: h2.IP.String(), Port: 5432})

	var tb net.Listener
	tbAddr := net.JoinHostPort(tbHost.IP.String(), tieBreakerPort)
	if err := tbHost.Do(func() (err error) { tb, err = net.Listen("tcp", tbAddr); return err }); err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, tb)
	key := filepath.Join(t.TempDir(), "pbxha.key")
	if err := failover.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	f := &pgPair{
		pairFixture: &pairFixture{t: t, pbxha: pbxha, client: client},
		db:          map[*pairNode]*pgtest.Cluster{},
		tb:          tbHost,
		bin:         pgtest.BinDir(t),
		demote:      demote,
	}
	if opts.crossover {
		f.link = topo.Cable(h1, h2)
	}
	for _, n := range []struct {
		host, peer *netns.Host
		db         *pgtest.Cluster
	}{{h1, h2, prim}, {h2, h1, stby}} {
		paths := []pgPath{{n.host.IP.String(), n.peer.IP.String()}}
		if f.link != nil {
			local, peer := f.link.Ends(n.host.Host)
			paths = append(paths, pgPath{local.String(), peer.String()})
		}
		failoverExtra := ""
		if opts.trackLAN {
			failoverExtra = "  track_interfaces: [" + n.host.Link + "]\n"
		}
		if opts.profile != "" {
			failoverExtra += "  profile: " + opts.profile + "\n"
		}
		node := startPGPairNode(t, n.host, paths, n.db, pbxha, testpbx, key, tbAddr, demote, f.bin, failoverExtra)
		f.db[node] = n.db
		f.nodes = append(f.nodes, node)
	}
	f.n1, f.n2 = f.nodes[0], f.nodes[1]
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range f.nodes {
				db := f.db[n]
				demoted, _ := os.ReadFile(db.DataDir + ".demote.log")
				restarted, _ := os.ReadFile(db.DataDir + ".pbxha.log")
				t.Logf("--- %s database log:\n%s\n--- pg-demote.sh:\n%s\n--- restarted by pg-demote.sh:\n%s", n.host.Name, db.Log(), demoted, restarted)
			}
		}
	})
	return f
}

// pgPath is one heartbeat path of a node: its own address and the peer's
// (port 7946 on both).
type pgPath struct{ local, peer string }

// startPGPairNode runs the test PBX and pbxha, with the database section, in
// host's namespace, with a heartbeat path on each of paths. pbxha is
// stopped before the databases when the test ends, so that it does not
// demote or restart them meanwhile.
func startPGPairNode(t testing.TB, host *netns.Host, paths []pgPath, db *pgtest.Cluster, pbxha, testpbx, key, tieBreaker, demote, bin, failoverExtra string) *pairNode {
	t.Helper()
	dir := t.TempDir()
	n := &pairNode{host: host, socket: filepath.Join(dir, "pbxha.sock"), log: filepath.Join(dir, "pbxha.log")}
	startNodePBXs(t, n, host, testpbx)
	var pathsYAML strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&pathsYAML, "    - {local: \"%s:7946\", peer: \"%s:7946\"}\n", p.local, p.peer)
	}
	quote := func(argv []string) string { return `["` + strings.Join(argv, `", "`) + `"]` }
	stop := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "stop", "-D", db.DataDir, "-m", "fast", "-w")
	// The standby rebuild's start command (pbxha standby rebuild).
	startDB := pgtest.AsOwner(t, filepath.Join(bin, "pg_ctl"), "start", "-D", db.DataDir, "-w", "-t", "60",
		"-l", db.DataDir+".start.log", "-o", "-p 5432")
	// The demote command's PRIMARY_CONNINFO is its default: the peer's
	// address on the first path (PBXHA_PEER_HOST), port 5432. Its output
	// is also kept beside the data directory for the failure dump.
	cfg := fmt.Sprintf(`node: {name: %[1]s, cluster: lab}
control: {socket: %[2]s}
state_dir: %[3]s
probes:
  sip:
    - {name: pbx, target: "sip:%[4]s:5060;transport=udp"}
  pg:
    - {name: db, dsn: "%[11]s", expect_role: any, interval: 500ms, timeout: 400ms, rise: 1, fall: 3, fresh_conn_every: 0s}
peer:
  paths:
%[5]s  key_file: %[6]s
failover:
  tie_breakers: ["%[7]s"]
%[18]svip:
  mode: netlink
  interface: %[8]s
  address: %[9]s/32
  label: "%[10]s"
database:
  dsn: "%[11]s"
  max_lag_bytes: %[12]d
  demote_command: ["/bin/bash", "-c", "set -o pipefail; \"$0\" 2>&1 | tee -a \"$1\"", "%[13]s", "%[17]s"]
  demote_timeout: 60s
  stop_command: %[14]s
  stop_timeout: 30s
  env: ["PGDATA=%[15]s", "PGBIN=%[16]s", "PG_CTL_OPTS=-p 5432", "PG_STOP_TIMEOUT=20"]
  data_dir: %[15]s
  start_command: %[19]s
`, host.Name, n.socket, dir, host.IP, pathsYAML.String(), key, tieBreaker, host.Link, pairVIP, host.Link+":vip",
		db.DSN(), pgMaxLag, demote, quote(stop), db.DataDir, bin, db.DataDir+".demote.log", failoverExtra, quote(startDB))
	cfgPath := filepath.Join(dir, "pbxha.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, err := host.Start("sh", "-c", fmt.Sprintf("exec %s run -c %s >%s 2>&1", pbxha, cfgPath, n.log))
	if err != nil {
		t.Fatal(err)
	}
	n.pbxha = cmd
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return n
}

// dbState reads a node's database: whether it is in recovery, and the
// address its WAL receiver streams from ("" when it does not stream).
func (f *pgPair) dbState(n *pairNode) (inRecovery bool, streamsFrom string, err error) {
	err = f.db[n].TryQueryRow(
		`SELECT pg_is_in_recovery(), coalesce((SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'), '')`,
		nil, &inRecovery, &streamsFrom)
	return inRecovery, streamsFrom, err
}

// missing returns the acknowledged ids that n's database lacks.
func (f *pgPair) missing(n *pairNode, acked []int32) []int32 {
	var out []int32
	f.db[n].QueryRow(f.t, `SELECT coalesce(array_agg(a.id ORDER BY a.id), '{}') FROM unnest($1::int[]) a(id)
		WHERE NOT EXISTS (SELECT 1 FROM writes w WHERE w.id = a.id)`, []any{acked}, &out)
	return out
}

// dbLoad is the client's traffic through the VIP: one INSERT every ~20 ms on
// one connection (a fresh one after any error), recording every id whose
// commit was acknowledged and when, and a SIP OPTIONS every ~50 ms; sip and
// write keep when each kind was last served and the gaps between.
type dbLoad struct {
	mu         sync.Mutex
	acked      []int32
	ackedAt    []time.Time // when each of acked was acknowledged
	sipOK      atomic.Int64
	sip, write serviceLog
	cancel     context.CancelFunc
	done       sync.WaitGroup
}

// vipConn is the client's database connection through the VIP, for the
// load and the write-outage benchmark. write inserts row id into the writes
// table, connecting first when it has no connection and dropping the
// connection after any error, so that the next write connects afresh.
type vipConn interface {
	write(ctx context.Context, id int32) error
	close()
}

// pgConn is a vipConn to PostgreSQL as postgres, dialled from the client's
// namespace: to the VIP (newPGVIPConn) or to whichever of several hosts
// takes writes (newPGMultiConn). connectFor, when set, bounds a connect
// apart from the write's own deadline.
type pgConn struct {
	cfg        *pgx.ConnConfig
	conn       *pgx.Conn
	connectFor time.Duration
}

func newPGConn(t testing.TB, client *netns.Host, url string, connectFor time.Duration) *pgConn {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = client.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	} // also for a multi-host string's fallback hosts
	return &pgConn{cfg: cfg, connectFor: connectFor}
}

func newPGVIPConn(t testing.TB, f *pairFixture, connectTimeout string) *pgConn {
	return newPGConn(t, f.client, "postgres://postgres@"+pairVIP+":5432/postgres?sslmode=disable"+connectTimeout, 0)
}

func (c *pgConn) write(ctx context.Context, id int32) error {
	if c.conn == nil {
		cctx := ctx
		if c.connectFor > 0 {
			var cancel context.CancelFunc
			cctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.connectFor)
			defer cancel()
		}
		conn, err := pgx.ConnectConfig(cctx, c.cfg)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	if _, err := c.conn.Exec(ctx, "INSERT INTO writes (id) VALUES ($1)", id); err != nil {
		c.close()
		return err
	}
	return nil
}

func (c *pgConn) close() {
	if c.conn != nil {
		closeQuick(c.conn)
		c.conn = nil
	}
}

// startDBLoad runs the client's PostgreSQL traffic until stop, or for at
// most limit.
func startDBLoad(t *testing.T, f *pgPair, limit time.Duration) *dbLoad {
	return startLoad(t, f.pairFixture, newPGVIPConn(t, f.pairFixture, "&connect_timeout=2"), limit)
}

// startLoad runs the load over conn until stop, or for at most limit.
func startLoad(t *testing.T, f *pairFixture, conn vipConn, limit time.Duration) *dbLoad {
	pinger := newSIPPinger(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	l := &dbLoad{cancel: cancel}
	t.Cleanup(l.stop)
	l.done.Go(func() {
		defer conn.close()
		// Bounded: limit, and one id per 20 ms of it.
		for id := int32(1); id < int32(limit/(20*time.Millisecond)) && ctx.Err() == nil; id++ {
			time.Sleep(20 * time.Millisecond)
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			err := conn.write(wctx, id)
			wcancel()
			if err != nil {
				continue
			}
			now := time.Now()
			l.write.served(now)
			l.mu.Lock()
			l.acked = append(l.acked, id)
			l.ackedAt = append(l.ackedAt, now)
			l.mu.Unlock()
		}
	})
	l.done.Go(func() {
		for i := 0; i < int(limit/(50*time.Millisecond)) && ctx.Err() == nil; i++ {
			if pinger.ping(f.client.IP.String(), 50*time.Millisecond) {
				l.sipOK.Add(1)
				l.sip.served(time.Now())
			}
		}
	})
	return l
}

// serviceLog is when one kind of the client's requests was last served, and
// every gap between two served requests longer than serviceGapMin.
type serviceLog struct {
	mu   sync.Mutex
	last time.Time
	gaps []serviceGap
}

// serviceGap is a time the client went unserved: from the last request
// served before it to the first one after.
type serviceGap struct{ from, to time.Time }

// serviceGapMin is the shortest gap a serviceLog keeps: a few requests'
// worth, well below any failover.
const serviceGapMin = 200 * time.Millisecond

func (s *serviceLog) served(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) > serviceGapMin {
		s.gaps = append(s.gaps, serviceGap{s.last, now})
	}
	s.last = now
}

// lastServed is when a request was last served (zero: never).
func (s *serviceLog) lastServed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// firstAfter returns when a request was first served after t: the end of
// the gap t falls in, or t itself when it falls in none (a request was
// served within serviceGapMin of it). Call it once served after t.
func (s *serviceLog) firstAfter(t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gaps {
		if !t.Before(g.from) && t.Before(g.to) {
			return g.to
		}
	}
	return t
}

// longest returns the longest gap that overlaps [from, to], a gap still
// open at to counting up to to.
func (s *serviceLog) longest(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	gaps := s.gaps
	if !s.last.IsZero() && to.Sub(s.last) > serviceGapMin {
		gaps = append(gaps[:len(gaps):len(gaps)], serviceGap{s.last, to})
	}
	var d time.Duration
	for _, g := range gaps {
		if g.to.After(from) && g.from.Before(to) {
			end := g.to
			if end.After(to) {
				end = to
			}
			d = max(d, end.Sub(g.from))
		}
	}
	return d
}

// closeQuick closes conn without waiting on a server that may be gone.
func closeQuick(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = conn.Close(ctx)
}

// snapshot returns the ids acknowledged so far.
func (l *dbLoad) snapshot() []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int32(nil), l.acked...)
}

// ackedWithTimes returns the ids acknowledged so far and when each was.
func (l *dbLoad) ackedWithTimes() ([]int32, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int32(nil), l.acked...), append([]time.Time(nil), l.ackedAt...)
}

// ackTimes returns when each write acknowledged so far was acknowledged.
func (l *dbLoad) ackTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.ackedAt...)
}

func (l *dbLoad) stop() {
	l.cancel()
	l.done.Wait()
}

// TestPairDatabaseInNamespaces runs two real pbxha nodes in network
// namespaces, each with a test PBX and a real PostgreSQL listening on its
// namespace address — a primary on n1, its streaming standby on n2 — and a
// client that writes a row every ~20 ms and sends SIP OPTIONS through the
// VIP. A planned switchover to n2 and one back to n1, under that load: the
// service returns through the VIP, never two VIP holders meanwhile, every
// write acknowledged before is on the new primary, and the old primary
// rejoins as a streaming standby of the new one (configs/pg-demote.sh with
// pg_rewind). Then no promotion beyond max_lag_bytes: the standby is cut
// from the primary's WAL and falls behind; when the primary's node is lost
// the standby stays standby and says why, until `pbxha switchover --force`
// promotes it (n1, cut off, has stepped down meanwhile); when the link
// heals, the pair settles on one primary and one writable database.
func TestPairDatabaseInNamespaces(t *testing.T) {
	f := startPGPair(t)
	f.wait(40*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	f.db[f.n1].Exec(t, "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")

	healthyStandby := func(n *pairNode) func() bool {
		return func() bool {
			s, err := n.status(t)
			return err == nil && s.Role == "standby" && s.Health == "healthy" && s.Pair != nil && s.Pair.Peer.Alive
		}
	}
	streamsFrom := func(n, from *pairNode) func() bool {
		return func() bool {
			rec, sender, err := f.dbState(n)
			return err == nil && rec && sender == from.host.IP.String()
		}
	}
	f.wait(30*time.Second, "n2's database streaming from n1", streamsFrom(f.n2, f.n1))

	l := startDBLoad(t, f, 10*time.Minute)
	switchover := func(from, to *pairNode) {
		t.Helper()
		f.wait(30*time.Second, to.host.Name+" a healthy standby before the switchover", healthyStandby(to))
		acked := len(l.snapshot())
		sip := l.sipOK.Load()
		f.wait(20*time.Second, "writes and SIP through the VIP before the switchover", func() bool {
			return len(l.snapshot()) >= acked+20 && l.sipOK.Load() >= sip+10
		})
		// The VIP holders are polled while the switchover runs.
		var out bytes.Buffer
		cmd := exec.Command(f.pbxha, "switchover", "--socket", from.socket, "--to", to.host.Name,
			"--drain-timeout", "0s", "--timeout", "60s")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		finished := false
		f.waitOneHolder(90*time.Second, "pbxha switchover --to "+to.host.Name, func() bool {
			select {
			case err = <-exited:
				finished = true
			default:
			}
			return finished
		})
		if err != nil || !strings.Contains(out.String(), "done") {
			f.dump()
			t.Fatalf("pbxha switchover --to %s: %v\n%s", to.host.Name, err, out.String())
		}
		t.Logf("switchover to %s:\n%s", to.host.Name, out.String())
		f.waitOneHolder(30*time.Second, to.host.Name+" serving the VIP", f.settled(to))
		if rec, _, err := f.dbState(to); err != nil || rec {
			t.Fatalf("%s's database after the switchover: in recovery %v (%v), want the primary", to.host.Name, rec, err)
		}
		// The service returns through the VIP: writes and SIP.
		acked, sip = len(l.snapshot()), l.sipOK.Load()
		f.waitOneHolder(30*time.Second, "writes and SIP through the VIP after the switchover", func() bool {
			return len(l.snapshot()) >= acked+20 && l.sipOK.Load() >= sip+10
		})
		// Every write acknowledged so far — before, during and after the
		// switchover — is on the new primary.
		all := l.snapshot()
		if miss := f.missing(to, all); len(miss) > 0 {
			f.dump()
			t.Fatalf("%d of %d acknowledged writes are missing on the new primary %s: %v", len(miss), len(all), to.host.Name, miss)
		}
		// The old primary rejoined as a streaming standby of the new one.
		f.waitOneHolder(60*time.Second, from.host.Name+"'s database streaming from "+to.host.Name, streamsFrom(from, to))
		f.waitOneHolder(30*time.Second, from.host.Name+" a healthy standby again", healthyStandby(from))
		t.Logf("switchover to %s: %d writes acknowledged so far, none lost", to.host.Name, len(all))
	}
	switchover(f.n1, f.n2)
	noStreamingWaits(t, f, f.n2, f.n1, l)
	switchover(f.n2, f.n1)
	l.stop()
	all := l.snapshot()
	f.wait(30*time.Second, "every acknowledged write replicated to n2", func() bool { return len(f.missing(f.n2, all)) == 0 })

	// No promotion beyond max_lag_bytes. n2's WAL receiver stops, n1 writes
	// on until n2's pbxha sees it more than max_lag_bytes behind.
	standby, prim := f.n2, f.n1
	f.db[standby].Exec(t, "ALTER SYSTEM SET primary_conninfo = ''")
	f.db[standby].Exec(t, "SELECT pg_reload_conf()")
	f.wait(20*time.Second, "n2's WAL receiver stopped", func() bool {
		_, sender, err := f.dbState(standby)
		return err == nil && sender == ""
	})
	f.db[prim].Exec(t, "CREATE TABLE filler (v text)")
	// About 2 × max_lag_bytes of WAL per batch; n2 learns n1's position
	// from the next heartbeats.
	f.wait(30*time.Second, "n2 seeing itself beyond max_lag_bytes", func() bool {
		if s, err := standby.status(t); err == nil && s.Pair != nil && s.Pair.Peer.LagBytes > pgMaxLag {
			return true
		}
		f.db[prim].Exec(t, "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 1000)")
		return false
	})

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
		rec, _, dberr := f.dbState(standby)
		if err != nil || s.Role != "standby" || standby.holdsVIP(t) || dberr != nil || !rec {
			f.dump()
			t.Fatalf("n2 took over while %d bytes behind: role %s, VIP %v, database in recovery %v (%v, %v)",
				s.Pair.Peer.LagBytes, s.Role, standby.holdsVIP(t), rec, err, dberr)
		}
		if !strings.Contains(s.Pair.Reason, "behind") {
			t.Fatalf("n2's reason: got %q, want it to say it is behind", s.Pair.Reason)
		}
	}
	out, err := exec.Command(f.pbxha, "switchover", "--socket", standby.socket, "--to", standby.host.Name,
		"--force", "--drain-timeout", "0s", "--timeout", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		f.dump()
		t.Fatalf("pbxha switchover --force on n2: %v\n%s", err, out)
	}
	f.wait(20*time.Second, "n2 primary with the VIP and a writable database", func() bool {
		rec, _, err := f.dbState(standby)
		return standby.role(t) == "primary" && standby.holdsVIP(t) && err == nil && !rec
	})

	// The link heals. n1, cut off from n2 and the tie-breaker, stepped
	// down by itself (isolation_after) and is rewound into a standby of n2.
	// f.wait, not waitOneHolder, until the pair has settled.
	linkUp()
	f.wait(60*time.Second, "one primary, n2, after the link healed", f.settled(standby))
	f.waitOneHolder(60*time.Second, "n1's database rewound into a standby streaming from n2", streamsFrom(prim, standby))
	writable := 0
	for _, n := range f.nodes {
		if rec, _, err := f.dbState(n); err == nil && !rec {
			writable++
		}
	}
	if writable != 1 {
		t.Errorf("got %d writable databases after the link healed, want 1", writable)
	}
	if err := f.db[standby].TryExec("INSERT INTO writes (id) VALUES (-1)"); err != nil {
		t.Errorf("write on the new primary n2: %v", err)
	}
	var n int
	f.wait(20*time.Second, "n2's write replicated to n1", func() bool {
		return f.db[prim].TryQueryRow("SELECT count(*) FROM writes WHERE id = -1", nil, &n) == nil && n == 1
	})
}

// noStreamingWaits: a planned switchover waits while no standby streams
// from the primary's database, since the promoted target would lack the
// writes it has not received. stby's WAL receiver stops while the client
// writes on through the VIP; prim's pg probe sees no streaming standby;
// `pbxha switchover --timeout 5s` to stby times out and says why, prim keeps
// the VIP and a writable database, and the ended request does not move the
// service once stby streams again.
func noStreamingWaits(t *testing.T, f *pgPair, prim, stby *pairNode, l *dbLoad) {
	t.Helper()
	var conninfo string
	f.db[stby].QueryRow(t, "SHOW primary_conninfo", nil, &conninfo)
	f.db[stby].Exec(t, "ALTER SYSTEM SET primary_conninfo = ''")
	f.db[stby].Exec(t, "SELECT pg_reload_conf()")
	f.waitOneHolder(20*time.Second, prim.host.Name+"'s pg probe seeing no streaming standby", func() bool {
		s, err := prim.status(t)
		if err != nil {
			return false
		}
		for _, p := range s.Probes {
			if p.Kind == "pg" && p.Last != nil && p.Last.Status == "ok" {
				_, read := p.Last.Values["standbys"]
				return read && p.Last.Values["standbys"] == 0 && strings.Contains(p.Last.Detail, "no standbys")
			}
		}
		return false
	})
	acked := len(l.snapshot())
	out, err := exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--to", stby.host.Name,
		"--drain-timeout", "0s", "--timeout", "5s").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "timed out") ||
		!strings.Contains(string(out), "last decision: switchover") || !strings.Contains(string(out), "no standby is streaming from this node's database") {
		f.dump()
		t.Fatalf("pbxha switchover to %s while nothing streams from %s: got %v\n%s\nwant exit 1, timed out, the last decision naming the streaming standby", stby.host.Name, prim.host.Name, err, out)
	}
	t.Logf("switchover while no standby streams:\n%s", out)
	if rec, _, err := f.dbState(prim); prim.role(t) != "primary" || !prim.holdsVIP(t) || stby.holdsVIP(t) || err != nil || rec {
		f.dump()
		t.Fatalf("after the refused switchover: %s role %s, VIP %v (%s %v), database in recovery %v (%v); want %s primary with the VIP and a writable database",
			prim.host.Name, prim.role(t), prim.holdsVIP(t), stby.host.Name, stby.holdsVIP(t), rec, err, prim.host.Name)
	}
	f.waitOneHolder(20*time.Second, "writes through the VIP while the switchover waited", func() bool { return len(l.snapshot()) >= acked+20 })

	f.db[stby].Exec(t, "ALTER SYSTEM SET primary_conninfo = '"+strings.ReplaceAll(conninfo, "'", "''")+"'")
	f.db[stby].Exec(t, "SELECT pg_reload_conf()")
	f.waitOneHolder(30*time.Second, stby.host.Name+"'s database streaming from "+prim.host.Name+" again", func() bool {
		rec, sender, err := f.dbState(stby)
		return err == nil && rec && sender == prim.host.IP.String()
	})
	// The timed-out request is over: nothing moves on its own now.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if prim.role(t) != "primary" || !prim.holdsVIP(t) {
			f.dump()
			t.Fatalf("%s released after the switchover had timed out", prim.host.Name)
		}
	}
}

// startNodePBXs starts the test PBX of a node twice: on the host's own
// address (which the local probe checks) and on the VIP, bound while the VIP
// is elsewhere (ip_nonlocal_bind), so that it answers from the VIP once the
// node holds it. Both are recorded in n.
func startNodePBXs(t testing.TB, n *pairNode, host *netns.Host, testpbx string) {
	t.Helper()
	if out, err := host.Run("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
		t.Fatalf("%s: sysctl: %v\n%s", host.Name, err, out)
	}
	for _, addr := range []string{host.IP.String(), pairVIP} {
		args := []string{testpbx, "-listen", addr + ":5060", "-transport", "udp"}
		pbx, err := host.Start(args...)
		if err != nil {
			t.Fatal(err)
		}
		n.pbx, n.pbxArg = append(n.pbx, pbx), append(n.pbxArg, args)
	}
}
