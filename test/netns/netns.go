// Package netns builds throwaway network topologies for tests: a switch
// namespace with a bridge and host namespaces wired to it by veth pairs,
// addressed in 198.18.0.0/24 (and fd00:198:18::/64), so tests can add real
// addresses, send real packets and cut links without touching the machine's
// own network. Every namespace and process it starts is removed by name or
// PID when the test ends.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Address plan. Hosts get .11, .12, ... in order; tests put service
// addresses at .100 and above.
var (
	v4Base = netip.MustParseAddr("198.18.0.0")
	v6Base = netip.MustParseAddr("fd00:198:18::")
)

const (
	firstHost  = 11
	hostLink   = "eth0" // interface name inside every host namespace
	bridge     = "br0"  // the bridge inside the switch namespace
	maxHostLen = 12     // "v-" + name must fit IFNAMSIZ-1
	cmdTimeout = 30 * time.Second
)

// Options shapes a topology.
type Options struct {
	// Hosts names the host namespaces, e.g. "n1", "n2", "client" (at most
	// 12 bytes each). Default: "n1", "n2".
	Hosts []string
	// IPv6 also gives every host fd00:198:18::X/64 (without DAD, usable at
	// once).
	IPv6 bool
}

// Topology is a switch and the hosts wired to it.
type Topology struct {
	// Switch is the name of the namespace that holds the bridge.
	Switch string
	// Hosts are in the order of Options.Hosts.
	Hosts []*Host

	t       testing.TB
	mu      sync.Mutex
	created []string    // namespaces to delete at cleanup, in creation order
	procs   []*exec.Cmd // started by Host.Start, killed at cleanup
}

// Host is one namespace on the switch.
type Host struct {
	Name string           // as given in Options.Hosts
	NS   string           // the namespace's name (ip netns list)
	Link string           // its interface towards the switch: "eth0"
	MAC  net.HardwareAddr // that interface's address, 02:98:18:00:00:X
	IP   netip.Addr       // 198.18.0.X, in a /24
	IP6  netip.Addr       // fd00:198:18::X in a /64, when Options.IPv6; else invalid

	port string // the switch-side end of its veth pair
	ns   vnetns.NsHandle
	topo *Topology
}

// New builds a topology and removes it when the test ends. It needs root and
// the ip command: without them it skips, or fails under CI=true.
func New(t testing.TB, opts Options) *Topology {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{"n1", "n2"}
	}
	if len(opts.Hosts) > 80 {
		t.Fatalf("netns: %d hosts, at most 80 fit below the .100 service addresses", len(opts.Hosts))
	}
	prefix := uniquePrefix(t)
	topo := &Topology{Switch: prefix + "-sw", t: t}
	t.Cleanup(topo.cleanup)

	topo.addNS(topo.Switch)
	topo.ip("-n", topo.Switch, "link", "set", "lo", "up")
	topo.ip("-n", topo.Switch, "link", "add", bridge, "type", "bridge", "forward_delay", "0")
	topo.ip("-n", topo.Switch, "link", "set", bridge, "up")
	seen := map[string]bool{}
	for i, name := range opts.Hosts {
		if name == "" || len(name) > maxHostLen || strings.ContainsAny(name, "/ \t") || seen[name] {
			t.Fatalf("netns: host name %q: want a unique name of 1 to %d bytes without spaces or slashes", name, maxHostLen)
		}
		seen[name] = true
		topo.Hosts = append(topo.Hosts, topo.addHost(prefix, name, firstHost+i, opts.IPv6))
	}
	topo.waitCarrier()
	return topo
}

// waitCarrier waits until both ends of every veth pair are operationally
// up, so that frames sent right after New are not dropped while the
// carrier comes up.
func (topo *Topology) waitCarrier() {
	topo.t.Helper()
	sw, err := vnetns.GetFromName(topo.Switch)
	if err != nil {
		topo.t.Fatalf("netns: open namespace %s: %v", topo.Switch, err)
	}
	defer sw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range topo.Hosts {
		for _, end := range []struct {
			ns   vnetns.NsHandle
			link string
		}{{h.ns, h.Link}, {sw, h.port}} {
			state, err := operState(end.ns, end.link, deadline)
			if err != nil || state != netlink.OperUp {
				topo.t.Fatalf("netns: %s: link %s: got state %s (%v), want up within 10s", h.Name, end.link, state, err)
			}
		}
	}
}

// operState polls a link's operational state until it is up or the
// deadline passes, and returns the last state seen.
func operState(ns vnetns.NsHandle, link string, deadline time.Time) (netlink.LinkOperState, error) {
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netlink.OperUnknown, err
	}
	defer nl.Close()
	var state netlink.LinkOperState = netlink.OperUnknown
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		l, err := nl.LinkByName(link)
		if err != nil {
			return state, err
		}
		if state = l.Attrs().OperState; state == netlink.OperUp {
			return state, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return state, nil
}

// uniquePrefix names this topology's namespaces: "pbx", the test process's
// PID and a random suffix, checked against existing namespaces.
func uniquePrefix(t testing.TB) string {
	for range 10 {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			t.Fatalf("netns: random name: %v", err)
		}
		p := fmt.Sprintf("pbx%d-%s", os.Getpid(), hex.EncodeToString(b))
		if _, err := os.Stat("/run/netns/" + p + "-sw"); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
	t.Fatalf("netns: no free namespace name after 10 tries")
	return ""
}

func (topo *Topology) addHost(prefix, name string, n int, ipv6 bool) *Host {
	h := &Host{
		Name: name,
		NS:   prefix + "-" + name,
		Link: hostLink,
		MAC:  net.HardwareAddr{0x02, 0x98, 0x18, 0, 0, byte(n)},
		IP:   nth(v4Base, n),
		port: "v-" + name,
		topo: topo,
	}
	topo.addNS(h.NS)
	topo.ip("-n", h.NS, "link", "set", "lo", "up")
	topo.ip("-n", topo.Switch, "link", "add", h.port, "type", "veth", "peer", "name", hostLink, "netns", h.NS)
	topo.ip("-n", topo.Switch, "link", "set", h.port, "master", bridge, "up")
	topo.ip("-n", h.NS, "link", "set", hostLink, "address", h.MAC.String())
	topo.ip("-n", h.NS, "addr", "add", h.IP.String()+"/24", "dev", hostLink)
	if ipv6 {
		h.IP6 = nth(v6Base, n)
		topo.ip("-n", h.NS, "addr", "add", h.IP6.String()+"/64", "dev", hostLink, "nodad")
	}
	topo.ip("-n", h.NS, "link", "set", hostLink, "up")
	ns, err := vnetns.GetFromName(h.NS)
	if err != nil {
		topo.t.Fatalf("netns: open namespace %s: %v", h.NS, err)
	}
	h.ns = ns
	return h
}

// addNS creates a namespace and records it for cleanup.
func (topo *Topology) addNS(name string) {
	topo.t.Helper()
	topo.ip("netns", "add", name)
	topo.mu.Lock()
	topo.created = append(topo.created, name)
	topo.mu.Unlock()
}

// nth returns base + n in its last byte.
func nth(base netip.Addr, n int) netip.Addr {
	b := base.AsSlice()
	b[len(b)-1] = byte(n)
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ip runs the ip command and fails the test on error.
func (topo *Topology) ip(args ...string) {
	topo.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		topo.t.Fatalf("netns: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// Host returns the host called name, failing the test if there is none.
func (topo *Topology) Host(name string) *Host {
	topo.t.Helper()
	for _, h := range topo.Hosts {
		if h.Name == name {
			return h
		}
	}
	topo.t.Fatalf("netns: no host %q", name)
	return nil
}

// cleanup kills the processes started in the namespaces, by PID, then
// deletes the namespaces by name (which destroys their interfaces).
func (topo *Topology) cleanup() {
	topo.mu.Lock()
	procs, names := topo.procs, topo.created
	topo.procs, topo.created = nil, nil
	topo.mu.Unlock()
	for _, cmd := range procs {
		if cmd.ProcessState != nil {
			continue // the test waited for it; its PID may be reused
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	for _, h := range topo.Hosts {
		if h.ns.IsOpen() {
			_ = h.ns.Close()
		}
	}
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput()
		cancel()
		if err != nil {
			topo.t.Errorf("netns: cleanup: ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
}

// Run runs a command inside the host's namespace (ip netns exec) and
// returns its combined output. It gives up after 30 seconds.
func (h *Host) Run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns: %s: %s: %w: %s", h.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// MustRun is Run that fails the test on error.
func (h *Host) MustRun(args ...string) []byte {
	h.topo.t.Helper()
	out, err := h.Run(args...)
	if err != nil {
		h.topo.t.Fatal(err)
	}
	return out
}

// Start starts a command inside the host's namespace, in its own process
// group, and returns at once. The process group is killed (by PID) when the
// test ends, unless the test waited for the process itself.
func (h *Host) Start(args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: %s: start %s: %w", h.Name, strings.Join(args, " "), err)
	}
	h.topo.mu.Lock()
	h.topo.procs = append(h.topo.procs, cmd)
	h.topo.mu.Unlock()
	return cmd, nil
}

// Do runs fn on an OS thread switched into the host's namespace and
// returns its error. Sockets, netlink handles and /proc/sys/net reads made
// in fn belong to the namespace and stay there after Do returns; goroutines
// that fn starts do not run in it.
func (h *Host) Do(fn func() error) error {
	return netlab.InNamespace(h.ns, "netns: "+h.Name, fn)
}

// LinkDown cuts the host off the switch, as a pulled cable or a dead node
// would: the switch-side end goes down, the host's own interface and
// addresses stay as they are.
func (h *Host) LinkDown() error { return h.setPort("down") }

// LinkUp reconnects the host after LinkDown.
func (h *Host) LinkUp() error { return h.setPort("up") }

func (h *Host) setPort(state string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "-n", h.topo.Switch, "link", "set", h.port, state).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: %s: link %s: %w: %s", h.Name, state, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Neighbour returns the link-layer address the host's neighbour table holds
// for ip on its interface, or nil when it has no usable entry (none,
// INCOMPLETE or FAILED).
func (h *Host) Neighbour(ip netip.Addr) (net.HardwareAddr, error) {
	nl, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return nil, fmt.Errorf("netns: %s: netlink: %w", h.Name, err)
	}
	defer nl.Close()
	link, err := nl.LinkByName(h.Link)
	if err != nil {
		return nil, fmt.Errorf("netns: %s: %w", h.Name, err)
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := nl.NeighList(link.Attrs().Index, family)
	if err != nil {
		return nil, fmt.Errorf("netns: %s: neighbours: %w", h.Name, err)
	}
	for _, n := range neighs {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || a.Unmap() != ip {
			continue
		}
		if n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED|netlink.NUD_NONE) != 0 || len(n.HardwareAddr) == 0 {
			return nil, nil
		}
		return n.HardwareAddr, nil
	}
	return nil, nil
}
