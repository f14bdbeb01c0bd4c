// Package netlab builds a throwaway lab network for `pbxha demo`: a switch
// namespace holding a bridge, and host namespaces wired to it by veth pairs,
// addressed in 198.18.0.0/24 (RFC 2544 benchmarking space). The lab has no
// route out of that subnet and no link to the machine's own network, and
// Close deletes every namespace it created. It needs root and the ip command
// (iproute2).
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Address plan: hosts get 198.18.0.11, .12, ... in order; service addresses
// (a VIP) go at .100 and above.
const (
	firstHost  = 11
	maxHosts   = 80
	maxHostLen = 12     // "v-" + name must fit IFNAMSIZ-1
	hostLink   = "eth0" // the interface inside every host namespace
	bridge     = "br0"  // the bridge inside the switch namespace
	cmdTimeout = 30 * time.Second
)

// NamePrefix starts the name of every namespace a lab creates, followed by
// the creating process's PID: pbxlab<pid>-sw, pbxlab<pid>-n1...
const NamePrefix = "pbxlab"

// Subnet is the lab's only network.
var Subnet = netip.MustParsePrefix("198.18.0.0/24")

// Addr returns 198.18.0.n.
func Addr(n int) netip.Addr {
	b := Subnet.Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// Lab is a switch and the hosts wired to it.
type Lab struct {
	Switch string  // the switch namespace's name (ip netns list)
	Hosts  []*Host // in the order of New's names

	created []string // namespaces to delete, in creation order
}

// Host is one namespace on the switch.
type Host struct {
	Name string     // as given to New
	NS   string     // the namespace's name
	Link string     // its interface towards the switch: "eth0"
	IP   netip.Addr // 198.18.0.X, in a /24

	ns vnetns.NsHandle
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

// New builds a lab with one host per name (at most 12 bytes each, unique).
// On error it removes whatever it had created. Close the lab when done.
func New(ctx context.Context, names []string) (_ *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(names) == 0 || len(names) > maxHosts {
		return nil, fmt.Errorf("netlab: %d hosts: want 1 to %d", len(names), maxHosts)
	}
	prefix := NamePrefix + strconv.Itoa(os.Getpid())
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
	seen := map[string]bool{}
	for i, name := range names {
		if name == "" || len(name) > maxHostLen || strings.ContainsAny(name, "/ \t") || seen[name] {
			return nil, fmt.Errorf("netlab: host name %q: want a unique name of 1 to %d bytes without spaces or slashes", name, maxHostLen)
		}
		seen[name] = true
		h, err := lab.addHost(ctx, prefix, name, firstHost+i)
		if err != nil {
			return nil, err
		}
		lab.Hosts = append(lab.Hosts, h)
	}
	if err := lab.waitCarrier(ctx); err != nil {
		return nil, err
	}
	return lab, nil
}

func (lab *Lab) addNS(ctx context.Context, name string) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	lab.created = append(lab.created, name)
	return nil
}

func (lab *Lab) addHost(ctx context.Context, prefix, name string, n int) (*Host, error) {
	h := &Host{Name: name, NS: prefix + "-" + name, Link: hostLink, IP: Addr(n)}
	if err := lab.addNS(ctx, h.NS); err != nil {
		return nil, err
	}
	port := "v-" + name
	for _, args := range [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", lab.Switch, "link", "add", port, "type", "veth", "peer", "name", hostLink, "netns", h.NS},
		{"-n", lab.Switch, "link", "set", port, "master", bridge, "up"},
		{"-n", h.NS, "link", "set", hostLink, "address", fmt.Sprintf("02:98:18:00:00:%02x", n)},
		{"-n", h.NS, "addr", "add", h.IP.String() + "/24", "dev", hostLink},
		{"-n", h.NS, "link", "set", hostLink, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, err
		}
	}
	ns, err := vnetns.GetFromName(h.NS)
	if err != nil {
		return nil, fmt.Errorf("netlab: open namespace %s: %w", h.NS, err)
	}
	h.ns = ns
	return h, nil
}

// waitCarrier waits until every host's link is operationally up, so that
// the first frames are not lost while the carrier comes up.
func (lab *Lab) waitCarrier(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range lab.Hosts {
		nl, err := netlink.NewHandleAt(h.ns)
		if err != nil {
			return fmt.Errorf("netlab: %s: netlink: %w", h.Name, err)
		}
		state := netlink.LinkOperState(netlink.OperUnknown)
		for i := 0; i < 1000 && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
			l, err := nl.LinkByName(h.Link)
			if err != nil {
				nl.Close()
				return fmt.Errorf("netlab: %s: link %s: %w", h.Name, h.Link, err)
			}
			if state = l.Attrs().OperState; state == netlink.OperUp {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		nl.Close()
		if state != netlink.OperUp {
			return fmt.Errorf("netlab: %s: link %s: got state %s, want up within 10s", h.Name, h.Link, state)
		}
	}
	return ctx.Err()
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

// Close deletes the lab's namespaces (which destroys their interfaces and
// the VIP with them). Processes still running inside are not killed: stop
// them first. It returns every deletion error.
func (lab *Lab) Close() error {
	for _, h := range lab.Hosts {
		if h.ns.IsOpen() {
			_ = h.ns.Close()
		}
	}
	var errs []error
	for i := len(lab.created) - 1; i >= 0; i-- {
		if err := ip(context.Background(), "netns", "del", lab.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	lab.created = nil
	return errors.Join(errs...)
}

// Command returns a command that runs name inside the host's namespace
// (ip netns exec, which execs name, so the process's PID is the command's).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
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

// staleRE matches the namespaces of a lab: its prefix, the creator's PID.
var staleRE = regexp.MustCompile("^" + NamePrefix + `([0-9]+)-[a-z0-9]+$`)

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
		m := staleRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processExists(pid) {
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
