package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/etcdtest"
	"github.com/pbxha/pbxha/test/netns"
	"github.com/pbxha/pbxha/test/pgtest"
)

// patroniNode is one PostgreSQL node managed by Debian's patroni in its
// namespace.
type patroniNode struct {
	host    *netns.Host
	cfg     string
	log     string
	cmd     *exec.Cmd
	dataDir string
	api     int // the REST API's port
}

// patroniCluster is two Patroni nodes on the etcd of the etcd benchmarks,
// with a client host.
type patroniCluster struct {
	t       testing.TB
	nodes   []*patroniNode
	client  *netns.Host
	http    *http.Client
	stopped bool
}

// patroniTimings are the DCS timings of one benchmark run, in seconds.
type patroniTimings struct {
	name             string
	ttl, loop, retry int
}

// startPatroni bootstraps a two-node Patroni cluster (scope scope) on p1 and
// p2 against etcd and waits for a leader and a streaming replica.
func startPatroni(t testing.TB, topo *netns.Topology, etcdHosts []string, scope string, tm patroniTimings, apiPort int) *patroniCluster {
	t.Helper()
	patroni := testenv.LookPath(t, "patroni", "/usr/bin")
	bin := pgtest.BinDir(t)
	root, err := os.MkdirTemp("", "patroni-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	c0 := &patroniCluster{}
	t.Cleanup(func() { c0.stop() }) // before the directory goes
	uid, gid := "101", "104"
	if out, err := exec.Command("id", "-u", "postgres").Output(); err == nil {
		uid = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("id", "-g", "postgres").Output(); err == nil {
		gid = strings.TrimSpace(string(out))
	}
	u, _ := strconv.Atoi(uid)
	g, _ := strconv.Atoi(gid)
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, u, g); err != nil {
		t.Fatal(err)
	}
	c := c0
	c.t, c.client = t, topo.Host("client")
	c.http = &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = c.client.Do(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}}}
	for _, name := range []string{"p1", "p2"} {
		h := topo.Host(name)
		dir := filepath.Join(root, name)
		sock := filepath.Join(root, name+"-sock") // each server its own socket lock
		if err := os.Mkdir(sock, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(sock, u, g); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`scope: %[1]s
namespace: /patroni/
name: %[2]s
log: {level: INFO}
restapi:
  listen: %[3]s:%[11]d
  connect_address: %[3]s:%[11]d
etcd3:
  hosts: %[4]s
bootstrap:
  dcs:
    ttl: %[5]d
    loop_wait: %[6]d
    retry_timeout: %[7]d
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      parameters: {wal_log_hints: "on", wal_keep_size: 128MB, synchronous_commit: "on"}
  initdb: [{encoding: UTF8}, {locale: C}]
  pg_hba:
    - local all all trust
    - host all all 198.18.0.0/24 trust
    - host replication all 198.18.0.0/24 trust
postgresql:
  listen: %[3]s:5432
  connect_address: %[3]s:5432
  data_dir: %[8]s
  bin_dir: %[9]s
  pgpass: %[8]s.pgpass
  authentication:
    superuser: {username: postgres}
    replication: {username: postgres}
    rewind: {username: postgres}
  parameters: {unix_socket_directories: "%[10]s"}
`, scope, name, h.IP, strings.Join(etcdHosts, ","), tm.ttl, tm.loop, tm.retry, dir, bin, sock, apiPort)
		path := filepath.Join(root, name+".yml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &patroniNode{host: h, cfg: path, log: filepath.Join(root, name+".log"), dataDir: dir, api: apiPort}
		n.start(t, patroni, uid, gid)
		c.nodes = append(c.nodes, n)
		if name == "p1" {
			// p1 bootstraps: let it take the initialize key first.
			c.wait(60*time.Second, "p1 leading", func() bool { return c.leader() == c.nodes[0] })
		}
	}
	c.wait(120*time.Second, "a leader and a streaming replica", c.healthy)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.nodes {
				b, _ := os.ReadFile(n.log)
				t.Logf("--- %s patroni log:\n%s", n.host.Name, b)
			}
		}
	})
	return c
}

// stop stops Patroni on every node (it stops its PostgreSQL first) and
// waits until no PostgreSQL runs on the data directories.
func (c *patroniCluster) stop() {
	if c.stopped {
		return
	}
	c.stopped = true
	for _, n := range c.nodes {
		_ = n.cmd.Process.Signal(os.Interrupt)
	}
	c.wait(60*time.Second, "PostgreSQL stopped", func() bool {
		for _, n := range c.nodes {
			if _, err := os.Stat(filepath.Join(n.dataDir, "postmaster.pid")); err == nil {
				return false
			}
		}
		return true
	})
}

func (n *patroniNode) start(t testing.TB, patroni, uid, gid string) {
	t.Helper()
	var err error
	n.cmd, err = n.host.Start("sh", "-c", fmt.Sprintf("exec setpriv --reuid=%s --regid=%s --init-groups -- %s %s >>%s 2>&1", uid, gid, patroni, n.cfg, n.log))
	if err != nil {
		t.Fatal(err)
	}
}

// get asks a node's REST API for path and returns the status code (0: no
// answer).
func (c *patroniCluster) get(n *patroniNode, path string) int {
	resp, err := c.http.Get(fmt.Sprintf("http://%s:%d%s", n.host.IP, n.api, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// leader returns the node whose REST API says it is the primary, or nil.
func (c *patroniCluster) leader() *patroniNode {
	for _, n := range c.nodes {
		if c.get(n, "/primary") == 200 {
			return n
		}
	}
	return nil
}

// healthy reports one primary and one replica streaming from it. The
// replica's own /replica?lag= answer is not enough: it compares with the
// leader's last position in etcd and says 200 for a replica whose
// streaming has not begun (a fresh base backup waiting for its slot),
// which a switchover then promotes without the newest rows.
func (c *patroniCluster) healthy() bool {
	l := c.leader()
	if l == nil {
		return false
	}
	for _, n := range c.nodes {
		if n != l && (c.get(n, "/replica?lag=1MB") != 200 || !c.streamsFrom(n, l)) {
			return false
		}
	}
	return true
}

// streamsFrom reports whether the leader l's REST API lists n among its
// replication connections in state streaming.
func (c *patroniCluster) streamsFrom(n, l *patroniNode) bool {
	resp, err := c.http.Get(fmt.Sprintf("http://%s:%d/patroni", l.host.IP, l.api))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct {
		Replication []struct {
			Name  string `json:"application_name"`
			State string `json:"state"`
		} `json:"replication"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return false
	}
	for _, r := range st.Replication {
		if r.Name == n.host.Name && r.State == "streaming" {
			return true
		}
	}
	return false
}

func (c *patroniCluster) wait(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if err := testenv.Poll(d, func() (bool, string) { return cond(), "" }); err != nil {
		for _, n := range c.nodes {
			b, _ := os.ReadFile(n.log)
			c.t.Logf("--- %s patroni log (tail):\n%s", n.host.Name, lastLines(string(b), 150))
		}
		c.t.Fatalf("waited %s for %s: %v", d, what, err)
	}
}

// newPGMultiConn writes through a multi-host connection string to whichever
// of hosts takes writes, as a client of Patroni does. Trying the hosts in
// turn (each one's read-only check included) takes longer than one write's
// bound: a connect gets 2s.
func newPGMultiConn(t testing.TB, client *netns.Host, hosts []string) *pgConn {
	return newPGConn(t, client, "postgres://postgres@"+strings.Join(hosts, ",")+"/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=1", 2*time.Second)
}

// BenchmarkPatroniOutage measures, beside BenchmarkEtcdDatabaseOutage, the
// write outage of Debian's patroni moving the PostgreSQL primary role alone
// between two nodes on the same three-member etcd 3.4 (heartbeat 100ms,
// election 500ms), with the client writing an INSERT every 10 ms through a
// multi-host connection string (target_session_attrs=read-write), per
// timing profile (ttl/loop_wait/retry_timeout): Patroni's defaults
// (30/10/10) and a tight one (5/1/2):
//
//	go test -run '^$' -bench BenchmarkPatroniOutage -benchtime 3x -timeout 60m ./test
//
// Scenarios: a planned switchover (patronictl switchover --force) and the
// primary's node lost (its link down until the replica took over).
func BenchmarkPatroniOutage(b *testing.B) {
	testenv.LookPath(b, "patroni", "/usr/bin")
	topo := netns.New(b, netns.Options{Hosts: []string{"e1", "e2", "e3", "p1", "p2", "client"}})
	ehosts := []*netns.Host{topo.Host("e1"), topo.Host("e2"), topo.Host("e3")}
	var ips, eps []string
	for _, h := range ehosts {
		ips = append(ips, h.IP.String())
		eps = append(eps, h.IP.String()+":2379")
	}
	etcdtest.Start(b, etcdtest.Options{Hosts: ips, Command: func(i int, name string, args ...string) *exec.Cmd {
		return ehosts[i].Command(name, args...)
	}})
	for i, tm := range []patroniTimings{{"defaults", 30, 10, 10}, {"tight", 5, 1, 2}} {
		b.Run(tm.name, func(b *testing.B) {
			c := startPatroni(b, topo, eps, "bench-"+tm.name, tm, 8008+i)
			l := c.leader()
			out, err := l.host.Run(pgtest.AsOwner(b, filepath.Join(pgtest.BinDir(b), "psql"), "-h", l.host.IP.String(), "-U", "postgres", "-c", "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")...)
			if err != nil {
				b.Fatalf("create table: %v\n%s", err, out)
			}
			var hosts []string
			for _, n := range c.nodes {
				hosts = append(hosts, n.host.IP.String()+":5432")
			}
			w := startWriter(b, newPGMultiConn(b, c.client, hosts))
			trial := func(b *testing.B, cause func(l *patroniNode), after func(l *patroniNode)) time.Duration {
				disturbed := time.Now()
				c.wait(180*time.Second, "a leader, a streaming replica and writes flowing", func() bool {
					return time.Since(disturbed) > 3*time.Second && w.flowing() && c.healthy()
				})
				l := c.leader()
				start := time.Now()
				cause(l)
				var d time.Duration
				c.wait(120*time.Second, "writes again", func() bool {
					var ok bool
					d, ok = w.outage(start)
					return ok
				})
				if after != nil {
					after(l)
				}
				return d
			}
			b.Run("switchover", func(b *testing.B) {
				var ds []time.Duration
				for range b.N {
					ds = append(ds, trial(b, func(l *patroniNode) {
						var other *patroniNode
						for _, n := range c.nodes {
							if n != l {
								other = n
							}
						}
						out, err := l.host.Run("patronictl", "-c", l.cfg, "switchover", "--leader", l.host.Name, "--candidate", other.host.Name, "--force")
						if err != nil {
							b.Fatalf("patronictl switchover: %v\n%s", err, out)
						}
					}, nil))
				}
				reportMS(b, "write-", ds)
			})
			b.Run("node_lost", func(b *testing.B) {
				var ds []time.Duration
				for range b.N {
					ds = append(ds, trial(b, func(l *patroniNode) {
						if err := l.host.LinkDown(); err != nil {
							b.Fatal(err)
						}
					}, func(l *patroniNode) {
						if err := l.host.LinkUp(); err != nil {
							b.Fatal(err)
						}
					}))
				}
				reportMS(b, "write-", ds)
			})
			w.stop()
			c.stop()
		})
	}
}
