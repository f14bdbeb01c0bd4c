// Package netlab builds throwaway lab networks: a switch namespace holding a
// bridge, and host namespaces wired to it by veth pairs, addressed in
// 198.18.0.0/24 (RFC 2544 benchmarking space) and, on request,
// fd00:198:18::/64; on request also cables between two hosts beside the
// switch (a crossover cable), each with a /31 of its own. A lab has no route
// out of those subnets and no link to the machine's own network. Hosts can
// run processes, enter their namespace
// from Go, lose their link and read their neighbour table. Close kills the
// processes a lab started, by PID, and deletes every namespace it created;
// RemoveStale deletes what a killed process left behind.
//
// `pbxha demo` runs its pair in a lab, and the end-to-end tests build theirs
// with it through test/netns. It needs root and the ip command (iproute2).
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Address plan: hosts get 198.18.0.11, .12, ... in order (and
// fd00:198:18::b, ::c, ...); service addresses (a VIP) go at .100 to .199;
// cables between two hosts take /31s from .200 up to .251.
const (
	firstHost  = 11
	maxHosts   = 80     // .11 to .90, below the .100 service addresses
	maxHostLen = 12     // "v-" + name must fit IFNAMSIZ-1
	hostLink   = "eth0" // the interface inside every host namespace
	bridge     = "br0"  // the bridge inside the switch namespace
	cmdTimeout = 30 * time.Second
	firstCable = 200 // the first cable's ends: .200 and .201
	maxCables  = 26  // .200 to .251
)

// NamePrefix starts the name of every namespace a lab creates. The creating
// process's PID follows, then, for the second and later labs of one
// process, a dot and the lab's number; then the namespace's role:
// pbxlab<pid>-sw, pbxlab<pid>-n1, pbxlab<pid>.2-sw...
const NamePrefix = "pbxlab"

// Subnet is a lab's IPv4 network.
var Subnet = netip.MustParsePrefix("198.18.0.0/24")

// Subnet6 is a lab's IPv6 network, used with Options.IPv6.
var Subnet6 = netip.MustParsePrefix("fd00:198:18::/64")

// Addr returns 198.18.0.n.
func Addr(n int) netip.Addr { return nth(Subnet.Addr(), n) }

// Addr6 returns fd00:198:18::n.
func Addr6(n int) netip.Addr { return nth(Subnet6.Addr(), n) }

// nth returns base with its last byte set to n.
func nth(base netip.Addr, n int) netip.Addr {
	b := base.AsSlice()
	b[len(b)-1] = byte(n)
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Options shapes a lab.
type Options struct {
	// Hosts names the host namespaces, e.g. "n1", "n2", "client": unique,
	// 1 to 12 bytes, no spaces or slashes, at most 80. Default: "n1", "n2".
	Hosts []string
	// IPv6 also gives every host fd00:198:18::X/64 (without duplicate
	// address detection, so usable at once).
	IPv6 bool
}

// Lab is a switch and the hosts wired to it.
type Lab struct {
	Switch string  // the switch namespace's name (ip netns list)
	Hosts  []*Host // in the order of Options.Hosts

	mu      sync.Mutex
	created []string    // namespaces to delete, in creation order
	procs   []*exec.Cmd // started by Host.Start, killed by Close
	cables  int         // cables made so far
}

// Host is one namespace on the switch.
type Host struct {
	Name string           // as given in Options.Hosts
	NS   string           // the namespace's name (ip netns list)
	Link string           // its interface towards the switch: "eth0"
	MAC  net.HardwareAddr // that interface's address, 02:98:18:00:00:X
	IP   netip.Addr       // 198.18.0.X, in a /24
	IP6  netip.Addr       // fd00:198:18::X in a /64 with Options.IPv6; else invalid

	port string // the switch-side end of its veth pair
	ns   vnetns.NsHandle
	lab  *Lab
}

// Available reports why a lab cannot be built here, or nil: it needs root
// (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netlab: not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab: the ip command (iproute2): %w", err)
	}
	return nil
}

// labs counts the labs this process has built, for their names.
var labs atomic.Int64

// New builds a lab. On error it removes whatever it had created. Close the
// lab when done. New may be called from several goroutines at once.
func New(ctx context.Context, opts Options) (_ *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{"n1", "n2"}
	}
	if len(opts.Hosts) > maxHosts {
		return nil, fmt.Errorf("netlab: %d hosts: want 1 to %d, below the .100 service addresses", len(opts.Hosts), maxHosts)
	}
	seen := map[string]bool{}
	for _, name := range opts.Hosts {
		if name == "" || len(name) > maxHostLen || strings.ContainsAny(name, "/ \t") || seen[name] {
			return nil, fmt.Errorf("netlab: host name %q: want a unique name of 1 to %d bytes without spaces or slashes", name, maxHostLen)
		}
		seen[name] = true
	}
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	lab := &Lab{Switch: prefix + "-sw"}
	defer func() {
		if err != nil {
			err = errors.Join(err, lab.Close())
		}
	}()
	if err := lab.addNS(ctx, lab.Switch); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", lab.Switch, "link", "set", "lo", "up"},
		{"-n", lab.Switch, "link", "add", bridge, "type", "bridge", "forward_delay", "0"},
		{"-n", lab.Switch, "link", "set", bridge, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, err
		}
	}
	for i, name := range opts.Hosts {
		h, err := lab.addHost(ctx, prefix, name, firstHost+i, opts.IPv6)
		if h != nil {
			lab.Hosts = append(lab.Hosts, h) // so that Close closes its handle
		}
		if err != nil {
			return nil, err
		}
	}
	if err := lab.waitCarrier(ctx); err != nil {
		return nil, err
	}
	return lab, nil
}

// newPrefix names a new lab's namespaces (see NamePrefix), skipping names
// already taken: a namespace left by a killed process whose PID is now
// this one's.
func newPrefix() (string, error) {
	pid := strconv.Itoa(os.Getpid())
	for range 100 {
		prefix := NamePrefix + pid
		if n := labs.Add(1); n > 1 {
			prefix += "." + strconv.FormatInt(n, 10)
		}
		if _, err := os.Stat("/run/netns/" + prefix + "-sw"); errors.Is(err, os.ErrNotExist) {
			return prefix, nil
		}
	}
	return "", fmt.Errorf("netlab: no free namespace name for process %s in 100 tries (see RemoveStale)", pid)
}

func (lab *Lab) addNS(ctx context.Context, name string) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	lab.mu.Lock()
	lab.created = append(lab.created, name)
	lab.mu.Unlock()
	return nil
}

// addHost creates host n's namespace and wires it to the switch. It returns
// the host whenever its namespace handle is open, also with an error.
func (lab *Lab) addHost(ctx context.Context, prefix, name string, n int, ipv6 bool) (*Host, error) {
	h := &Host{
		Name: name,
		NS:   prefix + "-" + name,
		Link: hostLink,
		MAC:  net.HardwareAddr{0x02, 0x98, 0x18, 0, 0, byte(n)},
		IP:   Addr(n),
		port: "v-" + name,
		lab:  lab,
	}
	if err := lab.addNS(ctx, h.NS); err != nil {
		return nil, err
	}
	ns, err := vnetns.GetFromName(h.NS)
	if err != nil {
		return nil, fmt.Errorf("netlab: open namespace %s: %w", h.NS, err)
	}
	h.ns = ns
	steps := [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", lab.Switch, "link", "add", h.port, "type", "veth", "peer", "name", hostLink, "netns", h.NS},
		{"-n", lab.Switch, "link", "set", h.port, "master", bridge, "up"},
		{"-n", h.NS, "link", "set", hostLink, "address", h.MAC.String()},
		{"-n", h.NS, "addr", "add", h.IP.String() + "/24", "dev", hostLink},
	}
	if ipv6 {
		h.IP6 = Addr6(n)
		steps = append(steps, []string{"-n", h.NS, "addr", "add", h.IP6.String() + "/64", "dev", hostLink, "nodad"})
	}
	steps = append(steps, []string{"-n", h.NS, "link", "set", hostLink, "up"})
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return h, err
		}
	}
	return h, nil
}

// waitCarrier waits until both ends of every veth pair (links included)
// are operationally up, so that frames sent right after New are not lost
// while the carrier comes up.
func (lab *Lab) waitCarrier(ctx context.Context) error {
	sw, err := vnetns.GetFromName(lab.Switch)
	if err != nil {
		return fmt.Errorf("netlab: open namespace %s: %w", lab.Switch, err)
	}
	defer sw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range lab.Hosts {
		for _, end := range []struct {
			ns   vnetns.NsHandle
			link string
		}{{h.ns, h.Link}, {sw, h.port}} {
			state, err := operState(ctx, end.ns, end.link, deadline)
			if err != nil {
				return fmt.Errorf("netlab: %s: link %s: %w", h.Name, end.link, err)
			}
			if state != netlink.OperUp {
				return fmt.Errorf("netlab: %s: link %s: got state %s, want up within 10s", h.Name, end.link, state)
			}
		}
	}
	return nil
}

// operState polls a link's operational state (at most 1000 times, 10ms
// apart) until it is up, the deadline passes or ctx ends, and returns the
// last state seen.
func operState(ctx context.Context, ns vnetns.NsHandle, link string, deadline time.Time) (netlink.LinkOperState, error) {
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netlink.OperUnknown, err
	}
	defer nl.Close()
	state := netlink.LinkOperState(netlink.OperUnknown)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		l, err := nl.LinkByName(link)
		if err != nil {
			return state, err
		}
		if state = l.Attrs().OperState; state == netlink.OperUp {
			return state, nil
		}
		select {
		case <-ctx.Done():
			return state, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return state, nil
}

// Host returns the host called name, or nil.
func (lab *Lab) Host(name string) *Host {
	for _, h := range lab.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close kills the process groups that Host.Start began, by PID (unless the
// caller has waited for the process itself), then deletes the lab's
// namespaces, which destroys their interfaces and any VIP with them.
// Processes started otherwise (Host.Command) are the caller's to stop
// first. Close returns every deletion error; a second call does nothing.
func (lab *Lab) Close() error {
	lab.mu.Lock()
	procs, names := lab.procs, lab.created
	lab.procs, lab.created = nil, nil
	lab.mu.Unlock()
	for _, cmd := range procs {
		if cmd.ProcessState != nil {
			continue // the caller waited for it; its PID may be reused
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	for _, h := range lab.Hosts {
		if h.ns.IsOpen() {
			_ = h.ns.Close()
		}
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := ip(context.Background(), "netns", "del", names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Command returns a command that runs name inside the host's namespace
// (ip netns exec, which execs name, so the process's PID is the command's).
// The caller starts and stops it.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command inside the host's namespace and returns its combined
// output. It gives up after 30 seconds.
func (h *Host) Run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netlab: %s: %s: %w: %s", h.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Start starts a command inside the host's namespace, in its own process
// group, and returns at once. Close kills the group by PID unless the
// caller has waited for the process.
func (h *Host) Start(args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: %s: start %s: %w", h.Name, strings.Join(args, " "), err)
	}
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, cmd)
	h.lab.mu.Unlock()
	return cmd, nil
}

// Do runs fn on an OS thread switched into the host's namespace and returns
// its error (see InNamespace). Do may be called from several goroutines at
// once.
func (h *Host) Do(fn func() error) error {
	return InNamespace(h.ns, "netlab: "+h.Name, fn)
}

// InNamespace runs fn on an OS thread switched into the network namespace
// ns and returns its error; who prefixes errors of the switch itself.
// Sockets, netlink handles and /proc/sys/net files opened in fn belong to
// the namespace and stay there after InNamespace returns; goroutines that
// fn starts do not run in it.
func InNamespace(ns vnetns.NsHandle, who string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%s: current namespace: %w", who, err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%s: enter: %w", who, err)
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			// Leave the thread locked: the runtime discards it when this
			// goroutine ends, so no other goroutine runs in the namespace.
			errc <- errors.Join(ferr, fmt.Errorf("%s: leave: %w", who, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Sysctl sets a net sysctl inside the host's namespace, e.g.
// "net.ipv4.ip_nonlocal_bind" to "1".
func (h *Host) Sysctl(key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("netlab: %s: sysctl %q: only net.* keys belong to a namespace", h.Name, key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return h.Do(func() error {
		if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
			return fmt.Errorf("netlab: %s: sysctl %s=%s: %w", h.Name, key, value, err)
		}
		return nil
	})
}

// LinkDown cuts the host off the switch, as a pulled cable or a dead node
// would: the switch-side end goes down, the host's own interface and
// addresses stay as they are.
func (h *Host) LinkDown() error { return h.setPort("down") }

// LinkUp reconnects the host after LinkDown.
func (h *Host) LinkUp() error { return h.setPort("up") }

func (h *Host) setPort(state string) error {
	if err := ip(context.Background(), "-n", h.lab.Switch, "link", "set", h.port, state); err != nil {
		return fmt.Errorf("netlab: %s: link %s: %w", h.Name, state, err)
	}
	return nil
}

// Neighbour returns the link-layer address the host's neighbour table holds
// for ip on its interface, or nil when it has no usable entry (none,
// INCOMPLETE or FAILED).
func (h *Host) Neighbour(ip netip.Addr) (net.HardwareAddr, error) {
	nl, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: netlink: %w", h.Name, err)
	}
	defer nl.Close()
	link, err := nl.LinkByName(h.Link)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", h.Name, err)
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := nl.NeighList(link.Attrs().Index, family)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: neighbours: %w", h.Name, err)
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

// nameRE matches the namespaces of a lab: the prefix, the creator's PID,
// the lab's number after the first, and the namespace's role.
var nameRE = regexp.MustCompile("^" + NamePrefix + `([0-9]+)(\.[0-9]+)?-[A-Za-z0-9_.-]+$`)

// Creator returns the PID of the process whose lab created the namespace
// called name, and false when name is not a lab's.
func Creator(name string) (pid int, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	pid, err := strconv.Atoi(m[1])
	return pid, err == nil
}

// RemoveStale deletes the namespaces left by labs whose process is gone
// (killed before it could close its lab), and returns their names. It
// touches no other namespace.
func RemoveStale(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: list namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, ok := Creator(e.Name())
		if !ok || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if err := ip(ctx, "netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ip runs the ip command with a timeout.
func ip(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
