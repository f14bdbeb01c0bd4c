package test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/pbxha/pbxha/test/netns"
)

const pairVIP = "198.18.0.100"

// pairNode is one node of the pair inside its network namespace.
type pairNode struct {
	host   *netns.Host
	socket string
	pbx    []*exec.Cmd  // the test PBX: on the host address (probed) and on the VIP (served), one process
	pbxArg [][]string   // their command lines
	cutTo  []netip.Addr // hosts it cannot reach (cut)
	pbxha  *exec.Cmd    // the sidecar (ip netns exec → sh → exec pbxha: one pid)
	run    string       // its shell command line
	log    string

	cfgPath  string
	pbxhaBin string
	conf     nodeConf              // the changeable part of the config file
	render   func(nodeConf) string // the config file for a nodeConf
}

func (n *pairNode) status(t testing.TB) (control.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return control.NewClient(n.socket).Status(ctx)
}

func (n *pairNode) role(t testing.TB) string {
	st, err := n.status(t)
	if err != nil {
		return "unreachable"
	}
	return st.Role
}

// holdsVIP reports whether the VIP is on the node's interface.
func (n *pairNode) holdsVIP(t testing.TB) bool {
	out, err := n.host.Run("ip", "-o", "addr", "show", "dev", n.host.Link)
	if err != nil {
		t.Fatalf("%s: ip addr: %v\n%s", n.host.Name, err, out)
	}
	return strings.Contains(string(out), " "+pairVIP+"/")
}

// Where the test PBX of a pair node runs its FreeSWITCH event socket double
// (on the node's own address), and how long it keeps a call whose BYE never
// came (a PBX's media timeout): a lost node's calls are gone from the
// count before the next trial.
const (
	pairESLPort = "8021"
	pairMaxCall = "10s"
)

// pairOptions shapes a pair beyond startPair's defaults.
type pairOptions struct {
	// failoverExtra is YAML added to both nodes' failover section, each
	// line indented by two spaces and ending in a newline.
	failoverExtra string
	// extraHosts are more hosts on the switch (an attacker), beside n1, n2
	// and the client.
	extraHosts []string
	// cable gives n1 and n2 a second heartbeat path over a cable of their
	// own (path 1; path 0 crosses the switch).
	cable bool
	// metrics makes each node serve metrics on its own address, port 9464.
	metrics bool
	// plain runs binaries built without the race detector (benchmarks).
	plain bool
	// n2Key, when set, is n2's key file instead of the pair's.
	n2Key string
	// probes, by host name, is YAML added to that node's probes section,
	// each line indented by two spaces and ending in a newline.
	probes map[string]string
	// setup, when set, runs for each node's host before its pbxha starts
	// (an interface to track, a double in its namespace).
	setup func(h *netns.Host)
	// calls adds an esl probe of the test PBX's event socket double that
	// counts calls (count_calls, not critical, every 200ms), so that a
	// switchover drains them.
	calls bool
}

// nodeConf is what the tests change in a pair node's config file.
type nodeConf struct {
	keyFile, nextKeyFile string
}

// startPairNode runs the test PBX and pbxha in host's namespace, with
// heartbeat paths from host's address (and cable address) to peer's.
func startPairNode(t testing.TB, host, peer *netns.Host, cable *netlab.Cable, pbxha, testpbx, key, tieBreaker string, opts pairOptions) *pairNode {
	t.Helper()
	dir := t.TempDir()
	n := &pairNode{host: host, socket: filepath.Join(dir, "pbxha.sock"), log: filepath.Join(dir, "pbxha.log"),
		cfgPath: filepath.Join(dir, "pbxha.yaml"), pbxhaBin: pbxha, conf: nodeConf{keyFile: key}}
	// Every timing (probe, heartbeat, dead_after, init_dead, GARP) is the
	// default, so that the tests and BenchmarkPairOutage exercise what an
	// operator gets out of the box.
	//
	// Like a real PBX of a pair, the test PBX listens on the host's own
	// address (which the local probe checks) and on the VIP, bound even
	// while the VIP is elsewhere (ip_nonlocal_bind), so that it answers from
	// the VIP once this node holds it. It answers calls on both, with the
	// host's own address as Contact: the requests of an established call
	// (ACK, BYE) go to the node that answered it, wherever the VIP is by
	// then — as with a PBX whose SIP profile advertises the node's address.
	if out, err := host.Run("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
		t.Fatalf("%s: sysctl: %v\n%s", host.Name, err, out)
	}
	own := host.IP.String() + ":5060"
	args := []string{testpbx, "-listen", own + "," + pairVIP + ":5060", "-transport", "udp",
		"-contact", own, "-esl", net.JoinHostPort(host.IP.String(), pairESLPort), "-max-call", pairMaxCall}
	pbx, err := host.Start(args...)
	if err != nil {
		t.Fatal(err)
	}
	n.pbx, n.pbxArg = append(n.pbx, pbx), append(n.pbxArg, args)
	probesExtra := ""
	if opts.calls {
		probesExtra = fmt.Sprintf("  esl:\n    - {name: calls, address: \"%s\", password: ClueCon, count_calls: true, critical: false, interval: 200ms, timeout: 150ms}\n",
			net.JoinHostPort(host.IP.String(), pairESLPort))
	}
	label := host.Link + ":vip"
	if len(label) > 15 {
		label = "vip"
	}
	paths := fmt.Sprintf("    - {local: \"%s:7946\", peer: \"%s:7946\"}\n", host.IP, peer.IP)
	if cable != nil {
		local, remote := cable.Ends(host.Host)
		paths += fmt.Sprintf("    - {local: \"%s:7946\", peer: \"%s:7946\"}\n", local, remote)
	}
	var metrics string
	if opts.metrics {
		metrics = fmt.Sprintf("metrics: {listen: \"%s:9464\"}\n", host.IP)
	}
	n.render = func(c nodeConf) string {
		keys := "  key_file: " + c.keyFile + "\n"
		if c.nextKeyFile != "" {
			keys += "  next_key_file: " + c.nextKeyFile + "\n"
		}
		return fmt.Sprintf(`node: {name: %[1]s, cluster: lab}
control: {socket: %[2]s}
state_dir: %[3]s
%[11]sprobes:
  sip:
    - {name: pbx, target: "sip:%[4]s:5060;transport=udp"}
%[13]speer:
  paths:
%[5]s%[6]sfailover:
  tie_breakers: ["%[7]s"]
%[12]svip:
  mode: netlink
  interface: %[8]s
  address: %[9]s/32
  label: "%[10]s"
`, host.Name, n.socket, dir, host.IP, paths, keys, tieBreaker, host.Link, pairVIP, label, metrics, opts.failoverExtra, probesExtra+opts.probes[host.Name])
	}
	n.writeConf(t)
	n.startDaemon(t)
	return n
}

// writeConf writes the node's config file from n.conf.
func (n *pairNode) writeConf(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(n.cfgPath, []byte(n.render(n.conf)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startDaemon starts pbxha on the node (again), appending to its log.
func (n *pairNode) startDaemon(t testing.TB) {
	t.Helper()
	var err error
	if n.pbxha, err = n.host.Start("sh", "-c", fmt.Sprintf("exec %s run -c %s >>%s 2>&1", n.pbxhaBin, n.cfgPath, n.log)); err != nil {
		t.Fatal(err)
	}
}

func (n *pairNode) logs() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

// pairFixture is a running pair: two pbxha nodes with test PBXs and a client
// in network namespaces on 198.18.0.0/24.
type pairFixture struct {
	t      testing.TB
	pbxha  string
	n1, n2 *pairNode
	nodes  []*pairNode
	client *netns.Host
	topo   *netns.Topology
}

// startPair starts the pair; failoverExtra is YAML added to both nodes'
// failover section, each line indented by two spaces and ending in a newline.
func startPair(t testing.TB, failoverExtra string) *pairFixture {
	return startPairWith(t, pairOptions{failoverExtra: failoverExtra})
}

// startPairWith starts the pair shaped by opts.
func startPairWith(t testing.TB, opts pairOptions) *pairFixture {
	build := build
	if opts.plain {
		build = buildPlain
	}
	pbxha, testpbx := build(t)
	topo := netns.New(t, netns.Options{Hosts: append([]string{"n1", "n2", "client"}, opts.extraHosts...)})
	h1, h2, client := topo.Host("n1"), topo.Host("n2"), topo.Host("client")
	var cable *netlab.Cable
	if opts.cable {
		cable = topo.Cable(h1, h2)
	}

	// The tie-breaker: a TCP listener on the client host, as a gateway would be.
	tbAddr := startTieBreaker(t, client, client.IP.String()+":7000")
	key := newPairKey(t)
	f := &pairFixture{t: t, pbxha: pbxha, client: client, topo: topo}
	for _, h := range []*netns.Host{h1, h2} {
		if opts.setup != nil {
			opts.setup(h)
		}
	}
	f.n1 = startPairNode(t, h1, h2, cable, pbxha, testpbx, key, tbAddr, opts)
	f.n2 = startPairNode(t, h2, h1, cable, pbxha, testpbx, cmp.Or(opts.n2Key, key), tbAddr, opts)
	f.nodes = []*pairNode{f.n1, f.n2}
	return f
}

// newPairKey writes a fresh shared heartbeat key and returns its path.
func newPairKey(t testing.TB) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "pbxha.key")
	if err := failover.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// startTieBreaker listens on addr (inside host's namespace, or here when
// host is nil), serves as a tie-breaker until the test ends, and returns
// the address it listens on.
func startTieBreaker(t testing.TB, host *netns.Host, addr string) string {
	t.Helper()
	var ln net.Listener
	listen := func() (err error) { ln, err = net.Listen("tcp", addr); return err }
	var err error
	if host != nil {
		err = host.Do(listen)
	} else {
		err = listen()
	}
	if err != nil {
		t.Fatal(err)
	}
	testenv.ServeAccepts(t, ln)
	return ln.Addr().String()
}

func (f *pairFixture) dump() {
	for _, n := range f.nodes {
		f.t.Logf("--- %s log:\n%s", n.host.Name, n.logs())
	}
}

// viaVIP: the client reaches a PBX through the VIP.
func (f *pairFixture) viaVIP() bool {
	out, err := f.client.Run(f.pbxha, "probe", "sip", "sip:"+pairVIP+":5060;transport=udp", "-n", "1", "-t", "300ms")
	return err == nil && strings.Contains(string(out), "200 OK")
}

// settled returns a condition: exactly one node is primary (want, when
// given), holds the VIP and serves it, and the other is standby without it.
func (f *pairFixture) settled(want *pairNode) func() bool {
	t := f.t
	return func() bool {
		var primaries []*pairNode
		for _, n := range f.nodes {
			if n.role(t) == "primary" {
				primaries = append(primaries, n)
			}
		}
		if len(primaries) != 1 || (want != nil && primaries[0] != want) {
			return false
		}
		p := primaries[0]
		for _, n := range f.nodes {
			if n != p && (n.role(t) != "standby" || n.holdsVIP(t)) {
				return false
			}
		}
		return p.holdsVIP(t) && f.viaVIP()
	}
}

// wait waits up to d for cond; on failure it prints the nodes' logs first.
func (f *pairFixture) wait(d time.Duration, what string, cond func() bool) {
	f.t.Helper()
	if err := testenv.Poll(d, func() (bool, string) { return cond(), "" }); err != nil {
		f.dump()
		f.t.Fatalf("waited %s for %s: %v", d, what, err)
	}
}

// waitOneHolder is wait, and also checks on every poll that the two nodes
// never hold the VIP at once: use it while a heartbeat path works.
func (f *pairFixture) waitOneHolder(d time.Duration, what string, cond func() bool) {
	f.t.Helper()
	f.wait(d, what, func() bool {
		// The two reads are milliseconds apart: n1, n2, then n1 again, so
		// that a handover between the reads (n1 let go before n2 took it)
		// is not mistaken for two holders — n1 must still hold it after.
		if f.n1.holdsVIP(f.t) && f.n2.holdsVIP(f.t) && f.n1.holdsVIP(f.t) {
			f.dump()
			f.t.Fatalf("both nodes hold the VIP while the heartbeat path works (waiting for %s)", what)
		}
		return cond()
	})
}

// bothHealthy reports whether both nodes are healthy and hear each other.
func (f *pairFixture) bothHealthy() bool {
	for _, n := range f.nodes {
		s, err := n.status(f.t)
		if err != nil || s.Health != "healthy" || s.Pair == nil || !s.Pair.Peer.Alive {
			return false
		}
	}
	return true
}

func (f *pairFixture) other(n *pairNode) *pairNode {
	if n == f.n1 {
		return f.n2
	}
	return f.n1
}

func (f *pairFixture) primary() *pairNode {
	for _, n := range f.nodes {
		if n.role(f.t) == "primary" {
			return n
		}
	}
	return nil
}

// signalPBX sends sig to every test PBX process of n; after SIGSTOP it
// returns once they have stopped.
func (n *pairNode) signalPBX(t testing.TB, sig syscall.Signal) {
	t.Helper()
	for _, p := range n.pbx {
		if sig == syscall.SIGSTOP {
			testenv.Freeze(t, p.Process.Pid)
			continue
		}
		if err := p.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPairFailover runs two real pbxha nodes in network namespaces, each with
// a test PBX, a VIP on a shared bridge and a client on a third host that
// sends SIP OPTIONS to the VIP: exactly one node becomes primary and holds
// the VIP; a hung PBX moves the service to the peer; a lost node (link down)
// moves it back; when the link heals, the pair settles on one VIP holder; a
// planned switchover moves it again.
func TestPairFailover(t *testing.T) {
	f := startPair(t, "")
	f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
	first := f.primary()
	st, _ := first.status(t)
	if st.Mode != "pair" || st.Pair == nil || st.Pair.Epoch == 0 || !st.Pair.Peer.Alive {
		t.Errorf("primary status %+v, want mode pair with a live peer and an epoch", st.Pair)
	}
	out, _ := exec.Command(f.pbxha, "status", "--socket", first.socket).CombinedOutput()
	if !strings.Contains(string(out), "mode pair  role primary") || !strings.Contains(string(out), "vip "+pairVIP) {
		t.Errorf("status table of the primary:\n%s", out)
	}

	// A hung PBX (process alive, SIP silent) moves the service to the peer.
	first.signalPBX(t, syscall.SIGSTOP)
	second := f.other(first)
	f.waitOneHolder(30*time.Second, "the peer serving the VIP after the PBX hung", f.settled(second))
	first.signalPBX(t, syscall.SIGCONT)
	st2, _ := second.status(t)
	if st2.Pair.Epoch <= st.Pair.Epoch {
		t.Errorf("got epoch %d after the failover, want more than %d", st2.Pair.Epoch, st.Pair.Epoch)
	}
	// Sticky: the recovered node stays standby.
	f.wait(20*time.Second, "the recovered node healthy as standby", func() bool {
		s, err := first.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	if p := f.primary(); p != second {
		t.Errorf("after recovery the primary is %v, want %s to stay primary (failback off)", p, second.host.Name)
	}

	// The primary node is lost (its link down): it is cut off from its
	// peer and from the tie-breaker, so it steps down by itself (database
	// first, then the VIP) before the other may take over. The two never
	// hold the VIP at once, not even while the link is down.
	if err := second.host.LinkDown(); err != nil {
		t.Fatal(err)
	}
	f.waitOneHolder(30*time.Second, "the first node primary after the second was cut off", func() bool {
		return first.role(t) == "primary" && first.holdsVIP(t) && f.viaVIP()
	})
	// Cut off from its peer and the tie-breaker, the lost node stepped
	// down by itself (isolated) before the other took over: when the link
	// heals, it is a standby already, and the pair has one primary.
	if err := second.host.LinkUp(); err != nil {
		t.Fatal(err)
	}
	f.waitOneHolder(30*time.Second, "one primary again after the partition healed", f.settled(first))
	if s, _ := second.status(t); s.Pair == nil || !strings.HasPrefix(lastChangeTo(s.Pair.RoleHistory, "standby").Reason, "isolated:") {
		f.dump()
		t.Errorf("the lost node did not step down for isolation: %+v", s.Pair)
	}

	// A planned switchover, asked on the primary, moves the role back.
	f.wait(20*time.Second, "the peer healthy and standby before the switchover", func() bool {
		s, err := second.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	out, err := exec.Command(f.pbxha, "switchover", "--socket", first.socket, "--to", second.host.Name, "--timeout", "20s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		f.dump()
		t.Fatalf("pbxha switchover: %v\n%s", err, out)
	}
	t.Logf("pbxha switchover:\n%s", out)
	// It prints the timeline as the old primary saw it, in order; with no
	// esl or ami probe, the drain says that nothing counted calls.
	var at []int
	for _, step := range []string{first.host.Name + ` +nothing counts calls \(no esl or ami probe reads them\): nothing drained`,
		first.host.Name + " +switchover to " + second.host.Name + " requested",
		first.host.Name + " +VIP down", first.host.Name + " +released", second.host.Name + " +seen primary",
		first.host.Name + " +switchover done"} {
		re := regexp.MustCompile(`(?m)^ +\d+ ms  ` + step + `$`)
		loc := re.FindStringIndex(string(out))
		if loc == nil {
			t.Errorf("switchover output lacks the step %q:\n%s", step, out)
			continue
		}
		at = append(at, loc[0])
	}
	if !slices.IsSorted(at) {
		t.Errorf("switchover timeline out of order:\n%s", out)
	}
	f.waitOneHolder(20*time.Second, "the switchover target serving the VIP", f.settled(second))

	// The PBX process dies (no supervisor in this test): the peer takes over.
	second.signalPBX(t, syscall.SIGKILL)
	f.waitOneHolder(30*time.Second, "the peer serving the VIP after the PBX was killed", f.settled(first))
	restartPBX(t, second)
	f.wait(20*time.Second, "the node with the restarted PBX healthy as standby", func() bool {
		s, err := second.status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})

	partitionScenarios(t, f, first, second, true)

	// pbxha stops on the primary (SIGTERM): it releases and says so, and
	// the standby takes over at once from a released peer, not after
	// finding it silent.
	prim := f.primary()
	stby := f.other(prim)
	if err := prim.pbxha.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	f.wait(20*time.Second, "the standby serving the VIP after pbxha stopped on the primary", func() bool {
		return stby.role(t) == "primary" && stby.holdsVIP(t) && !prim.holdsVIP(t) && f.viaVIP()
	})
	if err := prim.pbxha.Wait(); err != nil {
		t.Errorf("pbxha on %s after SIGTERM: %v", prim.host.Name, err)
	}
	if !strings.Contains(prim.logs(), "pbxha stopping: handing the service to the peer") {
		t.Errorf("%s's log does not show the release at stop", prim.host.Name)
	}
	if s, _ := stby.status(t); s.Pair == nil || !strings.Contains(lastTakeover(s.Pair.RoleHistory), "released") {
		f.dump()
		t.Errorf("%s took over for another reason than a released peer: %+v", stby.host.Name, s.Pair)
	}
}

// lastTakeover is the reason of the last change to primary in a role history.
func lastTakeover(h []control.RoleHistory) string {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].To == "primary" {
			return h[i].Reason
		}
	}
	return ""
}

// partitionScenarios cuts the heartbeat path between a healthy primary and
// standby, first on a standby that also cannot reach the tie-breaker (it
// must not take over: the primary may well be fine), then with the
// tie-breaker reachable. With the VIP witness (witness true, the default)
// the standby finds the primary still answering on the VIP and takes
// nothing over. Without it the standby takes over; when the path heals,
// the lower epoch releases and the node that stays re-announces the VIP,
// so the client reaches it, not a stale ARP entry.
func partitionScenarios(t *testing.T, f *pairFixture, prim, stby *pairNode, witness bool) {
	st, err := prim.status(t)
	if err != nil {
		t.Fatal(err)
	}
	epoch := st.Pair.Epoch

	prim.cut(t, stby.host)
	stby.cut(t, prim.host, f.client)
	f.wait(20*time.Second, "the standby to see the primary dead and no tie-breaker", func() bool {
		s, err := stby.status(t)
		return err == nil && s.Pair != nil && !s.Pair.Peer.Alive && strings.Contains(s.Pair.Reason, "no tie-breaker target reachable")
	})
	// Well past dead_after and the eligibility hold: the standby never
	// claims the service, the primary keeps serving it.
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); {
		if r := stby.role(t); r != "standby" || stby.holdsVIP(t) {
			f.dump()
			t.Fatalf("standby cut off from the primary and the tie-breaker: got role %s, VIP held %v; want standby without the VIP", r, stby.holdsVIP(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !prim.holdsVIP(t) || !f.viaVIP() {
		f.dump()
		t.Fatalf("the primary stopped serving the VIP while its standby was cut off")
	}
	prim.heal(t)
	stby.heal(t)
	f.waitOneHolder(20*time.Second, "the pair whole again, same primary", f.settled(prim))
	if st, _ := prim.status(t); st.Pair == nil || st.Pair.Epoch != epoch {
		t.Errorf("epoch after a partition the standby sat out: got %+v, want %d unchanged", st.Pair, epoch)
	}

	// Heartbeats cut both ways, tie-breaker reachable. The standby's VIP
	// witness finds the primary still answering on the VIP (clients reach
	// it): the standby does not take over, so there is no split brain for
	// a cut heartbeat link alone.
	f.wait(20*time.Second, "both nodes healthy with a live peer", f.bothHealthy)
	prim.cut(t, stby.host)
	stby.cut(t, prim.host)
	if witness {
		f.wait(20*time.Second, "the standby finding the silent primary still on the VIP", func() bool {
			s, err := stby.status(t)
			return err == nil && s.Pair != nil && s.Pair.Witness == "held" && strings.Contains(s.Pair.Reason, "another node still answers on the VIP")
		})
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if r := stby.role(t); r != "standby" || stby.holdsVIP(t) || !prim.holdsVIP(t) {
				f.dump()
				t.Fatalf("heartbeats cut, the witness on: got standby %s (VIP %v), primary VIP %v; want the primary to keep serving", r, stby.holdsVIP(t), prim.holdsVIP(t))
			}
		}
		f.wait(10*time.Second, "the client served through the VIP during the partition", f.viaVIP)
		prim.heal(t)
		stby.heal(t)
		f.waitOneHolder(20*time.Second, "the pair whole again, same primary", f.settled(prim))
		if st, _ := prim.status(t); st.Pair == nil || st.Pair.Epoch != epoch {
			t.Errorf("epoch after a partition the witness sat out: got %+v, want %d unchanged", st.Pair, epoch)
		}
		return
	}
	f.wait(20*time.Second, "the standby primary during the partition", func() bool {
		return stby.role(t) == "primary" && stby.holdsVIP(t)
	})
	f.wait(10*time.Second, "the client served through the VIP during the partition", f.viaVIP)
	prim.heal(t)
	stby.heal(t)
	f.wait(20*time.Second, "one primary after the partition healed: the higher epoch", f.settled(stby))
	if !strings.Contains(prim.logs(), "split brain") {
		t.Errorf("the node that released after the partition logged no split brain")
	}
	// The client's ARP entry points at the node that stayed: its
	// re-announcement after the meeting overrides the old primary's.
	mac, err := f.client.Neighbour(netip.MustParseAddr(pairVIP))
	if err != nil || mac.String() != stby.host.MAC.String() {
		t.Errorf("client's neighbour entry for the VIP: got %v (%v), want %s of %s", mac, err, stby.host.MAC, stby.host.Name)
	}
}

// TestPairPartitionWithoutWitness: with the VIP witness off, a standby cut
// from its primary's heartbeats, the tie-breaker reachable, takes over;
// when the path heals, the two primaries meet and the lower epoch releases
// (partitionScenarios).
func TestPairPartitionWithoutWitness(t *testing.T) {
	f := startPair(t, "  witness: \"off\"\n")
	f.wait(30*time.Second, "one primary holding and serving the VIP", f.settled(nil))
	prim := f.primary()
	f.wait(20*time.Second, "the peer healthy and standby", func() bool {
		s, err := f.other(prim).status(t)
		return err == nil && s.Role == "standby" && s.Health == "healthy"
	})
	partitionScenarios(t, f, prim, f.other(prim), false)
}

// cut makes the node unable to send to the given hosts (a blackhole
// route for each): cut on both sides of a link, it is a partition between
// them; the rest of the network still works.
func (n *pairNode) cut(t *testing.T, hosts ...*netns.Host) {
	t.Helper()
	for _, h := range hosts {
		n.host.MustRun("ip", "route", "add", "blackhole", h.IP.String()+"/32")
		n.cutTo = append(n.cutTo, h.IP)
	}
	t.Logf("%s: cut off from %v", n.host.Name, n.cutTo)
}

// heal removes cut's routes.
func (n *pairNode) heal(t *testing.T) {
	t.Helper()
	for _, ip := range n.cutTo {
		n.host.MustRun("ip", "route", "del", "blackhole", ip.String()+"/32")
	}
	n.cutTo = nil
}

// restartPBX starts the node's test PBXs again after they were killed.
func restartPBX(t testing.TB, n *pairNode) {
	t.Helper()
	for i, p := range n.pbx {
		p.Wait()
		pbx, err := n.host.Start(n.pbxArg[i]...)
		if err != nil {
			t.Fatal(err)
		}
		n.pbx[i] = pbx
	}
}

// TestPairFailback runs a pair with failback auto to preferred node n1: n1
// starts primary; when its PBX hangs, n2 takes over; once n1 has been
// healthy for failback_delay, n2 hands the service back in a planned
// switchover, which costs the client's SIP well under a second.
func TestPairFailback(t *testing.T) {
	f := startPair(t, "  failback: auto\n  preferred_node: n1\n  failback_delay: 3s\n")
	f.wait(30*time.Second, "n1, the preferred node, primary", f.settled(f.n1))
	f.n1.signalPBX(t, syscall.SIGSTOP)
	f.waitOneHolder(30*time.Second, "n2 serving the VIP after n1's PBX hung", f.settled(f.n2))
	// Hung for longer than failback_delay: n2 must not hand back to a node
	// that is not healthy.
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); {
		if f.n2.role(t) != "primary" {
			f.dump()
			t.Fatalf("n2 left primary while n1's PBX still hung")
		}
		time.Sleep(200 * time.Millisecond)
	}
	sip := watchSIP(t, f)
	healed := time.Now()
	f.n1.signalPBX(t, syscall.SIGCONT)
	f.waitOneHolder(30*time.Second, "n1 primary again after failback", f.settled(f.n1))
	if d := time.Since(healed); d < 3*time.Second {
		t.Errorf("failback after %s, want it no earlier than failback_delay 3s after n1 recovered", d)
	}
	// Lossless: it costs the client what a switchover costs, not the
	// 1.9s of a failback that released before n1 could take over.
	gap, pings, lost := sip.end()
	t.Logf("SIP through the VIP from n1's recovery to the end of the failback: longest gap %s (%d of %d OPTIONS unanswered)",
		gap.Round(time.Millisecond), lost, pings)
	if gap >= time.Second {
		t.Errorf("the failback cost the client %s of SIP, want well under a second", gap)
	}
	if !strings.Contains(f.n2.logs(), "failback: asking the preferred node to take over") {
		f.dump()
		t.Errorf("n2's log does not show the failback")
	}
}
