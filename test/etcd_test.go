package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/test/etcdtest"
	"github.com/pbxha/pbxha/test/netns"
)

// etcdFixture is a cluster coordinated through etcd in network namespaces
// on 198.18.0.0/24: three etcd members (hosts e1–e3), three pbxha nodes
// (n1–n3) each with a test PBX, and a client that reaches the PBX through
// the VIP.
type etcdFixture struct {
	pairFixture // the nodes, the client and their helpers
	etcd        *etcdtest.Cluster
	ehosts      []*netns.Host
	cfgs        []string // the nodes' config files
	testpbx     string
}

// etcdLeaseTTL is the nodes' lease TTL in the tests and the benchmark: the
// least etcd grants with the members' election timeout of 500ms.
const etcdLeaseTTL = "1s"

// startEtcdCluster starts the etcd members, then the three nodes.
func startEtcdCluster(t testing.TB) *etcdFixture { return startEtcdClusterWith(t, etcdClusterOpts{}) }

// startEtcdClusterWith is startEtcdCluster shaped by opts.
func startEtcdClusterWith(t testing.TB, opts etcdClusterOpts) *etcdFixture {
	pbxha, testpbx := build(t)
	topo := netns.New(t, netns.Options{Hosts: []string{"e1", "e2", "e3", "n1", "n2", "n3", "client"}})
	f := &etcdFixture{testpbx: testpbx}
	f.t, f.pbxha, f.client = t, pbxha, topo.Host("client")
	f.ehosts = []*netns.Host{topo.Host("e1"), topo.Host("e2"), topo.Host("e3")}
	var ips []string
	for _, h := range f.ehosts {
		ips = append(ips, h.IP.String())
	}
	f.etcd = etcdtest.Start(t, etcdtest.Options{Hosts: ips, Command: func(i int, name string, args ...string) *exec.Cmd {
		return f.ehosts[i].Command(name, args...)
	}})
	if opts.before != nil {
		opts.before(f, topo)
	}
	for i, name := range []string{"n1", "n2", "n3"} {
		var o etcdNodeOpts
		if i < len(opts.nodes) {
			o = opts.nodes[i]
		}
		n, cfg := startEtcdNode(t, topo.Host(name), pbxha, testpbx, f.etcd.Endpoints(), o)
		f.nodes = append(f.nodes, n)
		f.cfgs = append(f.cfgs, cfg)
	}
	f.n1, f.n2 = f.nodes[0], f.nodes[1]
	return f
}

// etcdClusterOpts shape startEtcdClusterWith: each node's options, and a
// function run once the namespaces and etcd are up, before the nodes
// start (to start their databases).
type etcdClusterOpts struct {
	nodes  []etcdNodeOpts
	before func(f *etcdFixture, topo *netns.Topology)
}

// etcdNodeOpts shape one node's config: its priority (0: the default, 100;
// -1: 0, never leads), YAML lines added under probes (each indented by two
// spaces) and top-level YAML added at the end.
type etcdNodeOpts struct {
	priority int
	probes   string
	extra    string
}

// startEtcdNode runs the test PBX and pbxha with coordination etcd in
// host's namespace; every timing but the lease TTL is the default.
func startEtcdNode(t testing.TB, host *netns.Host, pbxha, testpbx string, endpoints []string, o etcdNodeOpts) (*pairNode, string) {
	t.Helper()
	dir := t.TempDir()
	n := &pairNode{host: host, socket: filepath.Join(dir, "pbxha.sock"), log: filepath.Join(dir, "pbxha.log"),
		cfgPath: filepath.Join(dir, "pbxha.yaml"), pbxhaBin: pbxha}
	startNodePBXs(t, n, host, testpbx)
	priority := 100
	switch {
	case o.priority < 0:
		priority = 0
	case o.priority > 0:
		priority = o.priority
	}
	cfg := fmt.Sprintf(`node: {name: %[1]s, cluster: lab}
control: {socket: %[2]s}
state_dir: %[3]s
probes:
  sip:
    - {name: pbx, target: "sip:%[4]s:5060;transport=udp"}
%[10]scoordination: etcd
etcd:
  endpoints: ["%[5]s"]
  lease_ttl: %[6]s
  priority: %[9]d
vip:
  mode: netlink
  interface: %[7]s
  address: %[8]s/32
  label: vip
%[11]s`, host.Name, n.socket, dir, host.IP, strings.Join(endpoints, `", "`), etcdLeaseTTL, host.Link, pairVIP, priority, o.probes, o.extra)
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n.startDaemon(t)
	// Stopped before the databases and etcd when the test ends, so that it
	// does not act on their going.
	t.Cleanup(func() {
		if p := n.pbxha; p != nil && p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	})
	return n, n.cfgPath
}

// holders returns the nodes whose interface carries the VIP.
func (f *etcdFixture) holders() []*pairNode {
	var out []*pairNode
	for _, n := range f.nodes {
		if n.holdsVIP(f.t) {
			out = append(out, n)
		}
	}
	return out
}

// watchHolders checks every 20 ms, until stop is called, that no two nodes
// hold the VIP at once (two reads of the first holder around the others,
// so that a handover between the reads is not taken for two holders).
func (f *etcdFixture) watchHolders() (stop func() (checks int, twice string)) {
	var done atomic.Bool
	var wg sync.WaitGroup
	var checks int
	var twice string
	wg.Go(func() {
		for i := 0; i < 3000 && !done.Load(); i++ {
			var held []string
			for _, n := range f.nodes {
				if n.holdsVIP(f.t) {
					held = append(held, n.host.Name)
				}
			}
			checks++
			if len(held) > 1 && twice == "" {
				twice = strings.Join(held, ", ")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return func() (int, string) { done.Store(true); wg.Wait(); return checks, twice }
}

// leader returns the node whose role is primary, or nil.
func (f *etcdFixture) leader() *pairNode { return f.primary() }

// roleChangeAt returns when n last changed to role to, from its status.
func roleChangeAt(t testing.TB, n *pairNode, to string) time.Time {
	st, err := n.status(t)
	if err != nil || st.Pair == nil {
		return time.Time{}
	}
	var at time.Time
	for _, h := range st.Pair.RoleHistory {
		if h.To == to {
			at = h.At
		}
	}
	return at
}

// cutFromEtcd makes n unable to reach any etcd member.
func (f *etcdFixture) cutFromEtcd(t *testing.T, n *pairNode) {
	t.Helper()
	var hosts []*netns.Host
	hosts = append(hosts, f.ehosts...)
	n.cut(t, hosts...)
}

// TestEtcdCluster runs three pbxha nodes coordinated through a three-member
// etcd in network namespaces, each with a test PBX, and a client that sends
// SIP OPTIONS to the VIP. One node leads and serves; every node's status
// lists all three; the leader's PBX hangs → another node serves; the VIP
// is taken off the leader → it puts it back (vip_lost raised, resolved);
// the leader is cut off from etcd → it steps down before another takes
// over (the gap measured, never two VIP holders); etcd loses quorum →
// nobody leads, and
// a leader returns with it; a planned switchover to a named node; a
// standby leaves and joins again; the leader's pbxha stops → another takes
// over at once.
func TestEtcdCluster(t *testing.T) {
	f := startEtcdCluster(t)
	f.wait(30*time.Second, "one leader holding and serving the VIP", f.settled(nil))
	first := f.leader()
	f.wait(10*time.Second, "every node lists three", func() bool {
		for _, n := range f.nodes {
			st, err := n.status(t)
			if err != nil || st.Mode != "etcd" || st.Pair == nil || len(st.Pair.Nodes) != 3 || st.Pair.Etcd == nil || st.Pair.Etcd.Leader != first.host.Name {
				return false
			}
		}
		return true
	})
	out, _ := exec.Command(f.pbxha, "status", "--socket", first.socket).CombinedOutput()
	if !strings.Contains(string(out), "mode etcd  role primary") || !strings.Contains(string(out), "leader "+first.host.Name) {
		t.Errorf("status of the leader:\n%s", out)
	}

	t.Run("hung PBX", func(t *testing.T) {
		stop := f.watchHolders()
		old := f.leader()
		old.signalPBX(t, syscall.SIGSTOP)
		f.wait(20*time.Second, "another leader serving", func() bool {
			l := f.leader()
			return l != nil && l != old && f.settled(l)()
		})
		old.signalPBX(t, syscall.SIGCONT)
		if checks, twice := stop(); twice != "" {
			t.Errorf("the VIP had two holders (%s) in %d checks", twice, checks)
		}
	})

	t.Run("VIP taken off the leader", func(t *testing.T) {
		f.wait(20*time.Second, "a settled cluster", f.settled(nil))
		l := f.leader()
		before := len(l.events(t, "vip_lost"))
		l.host.MustRun("ip", "addr", "del", pairVIP+"/32", "dev", l.host.Link)
		f.wait(10*time.Second, "the VIP back on the leader, vip_lost raised and resolved", func() bool {
			ev := l.events(t, "vip_lost")
			return f.leader() == l && l.holdsVIP(t) && len(ev) >= before+2 && ev[len(ev)-1].Resolved
		})
	})

	t.Run("leader cut off from etcd", func(t *testing.T) {
		f.wait(20*time.Second, "a settled cluster", f.settled(nil))
		stop := f.watchHolders()
		old := f.leader()
		cut := time.Now()
		f.cutFromEtcd(t, old)
		var next *pairNode
		f.wait(20*time.Second, "another leader serving", func() bool {
			next = f.leader()
			return next != nil && next != old && next.holdsVIP(t) && f.viaVIP()
		})
		down, up := roleChangeAt(t, old, "standby"), roleChangeAt(t, next, "primary")
		t.Logf("cut at +0: %s stepped down at +%s, %s leads from +%s: %s between them",
			old.host.Name, down.Sub(cut).Round(time.Millisecond), next.host.Name, up.Sub(cut).Round(time.Millisecond), up.Sub(down).Round(time.Millisecond))
		if down.IsZero() || !up.After(down) {
			f.dump()
			t.Errorf("got step-down at %v and the new leader at %v: want the step-down first", down, up)
		}
		old.heal(t)
		f.wait(20*time.Second, "the old leader follows", func() bool {
			st, err := old.status(t)
			return err == nil && st.Role == "standby" && st.Pair.Etcd.Error == "" && st.Pair.Etcd.Leader == next.host.Name
		})
		if checks, twice := stop(); twice != "" {
			t.Errorf("the VIP had two holders (%s) in %d checks", twice, checks)
		}
	})

	t.Run("etcd loses quorum", func(t *testing.T) {
		f.wait(20*time.Second, "a settled cluster", f.settled(nil))
		f.etcd.Stop(1)
		f.etcd.Stop(2)
		f.wait(10*time.Second, "no leader, no VIP holder", func() bool {
			return f.leader() == nil && len(f.holders()) == 0
		})
		f.etcd.Restart(1)
		f.etcd.Restart(2)
		f.wait(30*time.Second, "a leader again", f.settled(nil))
	})

	t.Run("planned switchover", func(t *testing.T) {
		f.wait(20*time.Second, "a settled cluster", f.settled(nil))
		old := f.leader()
		var target *pairNode
		for _, n := range f.nodes {
			if n != old {
				target = n
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := control.NewClient(old.socket).Switchover(ctx, target.host.Name, 0, 15*time.Second, false)
		if err != nil || res.Outcome != "done" || res.Primary != target.host.Name {
			f.dump()
			t.Fatalf("got %+v, %v; want done with %s primary", res, err, target.host.Name)
		}
		t.Logf("switchover to %s in %.0f ms", target.host.Name, res.TookMS)
		f.wait(10*time.Second, "the target serving", f.settled(target))
	})

	t.Run("a node leaves and joins", func(t *testing.T) {
		f.wait(20*time.Second, "a settled cluster", f.settled(nil))
		l := f.leader()
		var standby *pairNode
		for _, n := range f.nodes {
			if n != l {
				standby = n
			}
		}
		standby.pbxha.Process.Signal(syscall.SIGTERM)
		f.wait(10*time.Second, "the leader lists two", func() bool {
			st, err := l.status(t)
			return err == nil && len(st.Pair.Nodes) == 2
		})
		standby.startDaemon(t)
		f.wait(20*time.Second, "the leader lists three", func() bool {
			st, err := l.status(t)
			return err == nil && len(st.Pair.Nodes) == 3 && standby.role(t) == "standby"
		})
		// The leader leaves: it releases, revokes its lease, and another
		// node takes over without waiting for the TTL.
		stopped := time.Now()
		l.pbxha.Process.Signal(syscall.SIGTERM)
		f.wait(10*time.Second, "another leader serving", func() bool {
			n := f.leader()
			return n != nil && n != l && f.viaVIP()
		})
		t.Logf("a new leader serves %s after the leader's pbxha stopped", time.Since(stopped).Round(time.Millisecond))
		l.startDaemon(t)
		f.wait(20*time.Second, "the old leader back as standby", func() bool { return l.role(t) == "standby" })
	})
}
