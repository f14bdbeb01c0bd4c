package netlab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"github.com/pbxha/pbxha/internal/testenv"
)

func nsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// TestLab builds a lab, sends a datagram from one host to the other over
// the bridge, binds a service address with ip_nonlocal_bind, and checks
// that Close deletes every namespace.
func TestLab(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lab, err := netlab.New(ctx, netlab.Options{Hosts: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	names := append([]string{lab.Switch}, lab.Hosts[0].NS, lab.Hosts[1].NS)
	closed := false
	t.Cleanup(func() {
		if !closed {
			lab.Close()
		}
	})
	a, b := lab.Host("a"), lab.Host("b")
	if a.IP != netlab.Addr(11) || b.IP != netlab.Addr(12) || lab.Host("c") != nil {
		t.Fatalf("got hosts a %s, b %s; want 198.18.0.11 and .12 and no host c", a.IP, b.IP)
	}

	var pc net.PacketConn
	if err := b.Do(func() (err error) { pc, err = net.ListenPacket("udp", b.IP.String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := a.Do(func() error {
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || from.(*net.UDPAddr).AddrPort().Addr() != a.IP {
		t.Fatalf("got %q from %v (%v), want hello from %s", buf[:n], from, err, a.IP)
	}

	vip := netip.AddrPortFrom(netlab.Addr(100), 5060).String()
	bindVIP := func() error {
		c, err := net.ListenPacket("udp", vip)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := a.Do(bindVIP); err == nil {
		t.Fatalf("bound %s without ip_nonlocal_bind, want an error", vip)
	}
	if err := a.Sysctl("net.ipv4.ip_nonlocal_bind", "1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(bindVIP); err != nil {
		t.Fatalf("bind %s with ip_nonlocal_bind: %v", vip, err)
	}
	if err := a.Sysctl("kernel.hostname", "x"); err == nil {
		t.Errorf("set a kernel.* sysctl, want a refusal: it is not per namespace")
	}

	closed = true
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if nsExists(name) {
			t.Errorf("namespace %s still exists after Close", name)
		}
	}
}

// TestRemoveStale deletes the namespaces of a lab whose process is gone and
// keeps those of a live one.
func TestRemoveStale(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	ctx := context.Background()
	// A PID that no process has now: a child that has been waited for.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	staleName := netlab.NamePrefix + strconv.Itoa(dead.Process.Pid) + "-sw"
	stale2Name := netlab.NamePrefix + strconv.Itoa(dead.Process.Pid) + ".2-n1" // its second lab
	liveName := netlab.NamePrefix + strconv.Itoa(os.Getppid()) + "-sw"         // `go test` lives
	for _, name := range []string{staleName, stale2Name, liveName} {
		if err := ip(ctx, "netns", "add", name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if nsExists(name) {
				ip(context.Background(), "netns", "del", name)
			}
		})
	}
	removed, err := netlab.RemoveStale(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range removed {
		if name == staleName || name == stale2Name {
			found++
		}
		if name == liveName {
			t.Errorf("removed %s, whose process lives", liveName)
		}
	}
	if found != 2 || nsExists(staleName) || nsExists(stale2Name) {
		t.Errorf("got removed %v, want %s and %s among them and gone", removed, staleName, stale2Name)
	}
	if !nsExists(liveName) {
		t.Errorf("namespace %s of a live process was deleted", liveName)
	}
}

// TestLabLinksAndProcesses builds a dual-stack lab and checks its address
// plan, Run, Do, the neighbour table, a link cut and its repair, and that
// Close kills a process Start began and deletes the namespaces. A second
// lab in the same process gets names of its own.
func TestLabLinksAndProcesses(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lab, err := netlab.New(ctx, netlab.Options{Hosts: []string{"a", "b"}, IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			lab.Close()
		}
	})
	a, b := lab.Host("a"), lab.Host("b")
	names := []string{lab.Switch, a.NS, b.NS}
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"a ipv4", a.IP.String(), "198.18.0.11"},
		{"b ipv4", b.IP.String(), "198.18.0.12"},
		{"b ipv6", b.IP6.String(), "fd00:198:18::c"},
		{"b mac", b.MAC.String(), "02:98:18:00:00:0c"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	for _, n := range names {
		if pid, ok := netlab.Creator(n); !ok || pid != os.Getpid() {
			t.Errorf("namespace %s: got creator %d (%v), want this process %d", n, pid, ok, os.Getpid())
		}
	}

	other, err := netlab.New(ctx, netlab.Options{Hosts: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if other.Switch == lab.Switch || other.Host("a").NS == a.NS {
		t.Errorf("second lab: got switch %s, host %s; want names other than the first lab's", other.Switch, other.Host("a").NS)
	}
	if err := other.Close(); err != nil {
		t.Errorf("close the second lab: %v", err)
	}

	out, err := b.Run("ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"198.18.0.12/24", "fd00:198:18::c/64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("b's addresses: got %q, want %s among them", out, want)
		}
	}
	// Do runs in b's namespace: only there is eth0 b's.
	var ifi *net.Interface
	if err := b.Do(func() (err error) { ifi, err = net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	if ifi.HardwareAddr.String() != b.MAC.String() {
		t.Errorf("eth0 inside b: got MAC %s, want %s", ifi.HardwareAddr, b.MAC)
	}
	if err := b.Do(func() error { return errors.New("boom") }); err == nil || err.Error() != "boom" {
		t.Errorf("Do error: got %v, want boom", err)
	}

	rx4 := udpRecv(t, b, b.IP, 40000)
	rx6 := udpRecv(t, b, b.IP6, 40001)
	if !delivered(t, a, rx4, 5*time.Second) {
		t.Fatalf("a -> b over IPv4: got no datagram, want one")
	}
	if !delivered(t, a, rx6, 5*time.Second) {
		t.Fatalf("a -> b over IPv6: got no datagram, want one")
	}
	mac, err := a.Neighbour(b.IP)
	if err != nil || mac.String() != b.MAC.String() {
		t.Errorf("a's neighbour entry for b: got %s, %v, want %s", mac, err, b.MAC)
	}

	if err := b.LinkDown(); err != nil {
		t.Fatal(err)
	}
	if delivered(t, a, rx4, time.Second) {
		t.Errorf("a -> b with b's link down: got a datagram, want none")
	}
	if err := b.LinkUp(); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 20 && !ok; i++ { // the port may take a moment to forward
		ok = delivered(t, a, rx4, 500*time.Millisecond)
	}
	if !ok {
		t.Errorf("a -> b after LinkUp: got no datagram in 20 tries, want one")
	}

	// A process started in b runs in b's namespace and dies at Close.
	cmd, err := b.Start("sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// ip netns exec enters the namespace, then execs sleep.
	testenv.WaitForReason(t, 10*time.Second, "ip netns exec to become sleep", func() (bool, string) {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return strings.TrimSpace(string(comm)) == "sleep", "comm " + strings.TrimSpace(string(comm))
	})
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if own, err := os.Readlink("/proc/self/ns/net"); err != nil || link == own {
		t.Errorf("started process's namespace: got %s (own %s, %v), want b's", link, own, err)
	}

	closed = true
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if cmd.ProcessState == nil {
		t.Errorf("process %d after Close: got not waited for, want killed and reaped", pid)
	}
	for _, n := range names {
		if nsExists(n) {
			t.Errorf("namespace %s after Close: got it, want it deleted", n)
		}
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

// TestCableDown takes a cable between two hosts down and up again: while it
// is down no datagram between the cable addresses arrives, not even through
// the switch (b listens on every address), and a socket bound to the cable
// address before the cut works again after Up, as a heartbeat socket must.
func TestCableDown(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lab, err := netlab.New(ctx, netlab.Options{Hosts: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	ab, err := lab.Cable(ctx, lab.Host("a"), lab.Host("b"))
	if err != nil {
		t.Fatal(err)
	}
	if local, remote := ab.Ends(lab.Host("b")); local != ab.BIP || remote != ab.AIP {
		t.Errorf("b's ends: got %s and %s, want %s and %s", local, remote, ab.BIP, ab.AIP)
	}
	out, err := lab.Host("a").Run("ip", "-o", "addr", "show", "dev", ab.Link)
	if err != nil || !strings.Contains(string(out), ab.AIP.String()+"/31") {
		t.Fatalf("a's cable end: got %q (%v), want %s/31", out, err, ab.AIP)
	}

	rx := udpRecv(t, lab.Host("b"), netip.IPv4Unspecified(), 40002)
	var tx *net.UDPConn
	if err := lab.Host("a").Do(func() (err error) {
		tx, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ab.AIP, 40002)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ab.BIP, 40002))
	// send sends one datagram from tx and reports whether rx got it from
	// a's link address within wait.
	send := func(wait time.Duration) bool {
		msg := []byte("hb " + strconv.FormatInt(time.Now().UnixNano(), 10))
		if _, err := tx.WriteToUDP(msg, to); err != nil {
			return false
		}
		buf := make([]byte, 128)
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
			rx.SetReadDeadline(deadline)
			n, from, err := rx.ReadFromUDP(buf)
			if err != nil {
				return false
			}
			if bytes.Equal(buf[:n], msg) && from.AddrPort().Addr().Unmap() == ab.AIP {
				return true
			}
		}
		return false
	}
	if !send(5 * time.Second) {
		t.Fatalf("a -> b over the cable: got no datagram, want one")
	}
	if err := ab.Down(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if send(300 * time.Millisecond) {
			t.Fatalf("a -> b with the cable down (try %d): got a datagram, want none", i)
		}
	}
	if err := ab.Up(); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 20 && !ok; i++ {
		ok = send(500 * time.Millisecond)
	}
	if !ok {
		t.Errorf("a -> b after Up: got no datagram in 20 tries, want one")
	}
}

// TestBadOptions checks that New refuses bad host names before it creates
// anything.
func TestBadOptions(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	before, _ := os.ReadDir("/run/netns")
	for _, tc := range []struct {
		name  string
		hosts []string
	}{
		{"too long", []string{"abcdefghijklm"}},
		{"duplicate", []string{"n1", "n1"}},
		{"slash", []string{"a/b"}},
		{"space", []string{"a b"}},
		{"too many", make([]string, 81)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if lab, err := netlab.New(context.Background(), netlab.Options{Hosts: tc.hosts}); err == nil {
				lab.Close()
				t.Errorf("netlab.New(%q): got a lab, want an error", tc.hosts)
			}
		})
	}
	after, _ := os.ReadDir("/run/netns")
	for _, e := range after {
		if pid, ok := netlab.Creator(e.Name()); ok && pid == os.Getpid() && !slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
			t.Errorf("namespace %s: got it after refused options, want nothing created", e.Name())
		}
	}
}

// udpRecv listens on addr:port inside h and returns the socket.
func udpRecv(t *testing.T, h *netlab.Host, addr netip.Addr, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// delivered sends one datagram from src to the socket to and reports
// whether it arrived within wait.
func delivered(t *testing.T, src *netlab.Host, to *net.UDPConn, wait time.Duration) bool {
	t.Helper()
	var c *net.UDPConn
	err := src.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, to.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("hello " + strconv.FormatInt(time.Now().UnixNano(), 10))
	if _, err := c.Write(msg); err != nil {
		return false
	}
	buf := make([]byte, 128)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		to.SetReadDeadline(deadline)
		n, _, err := to.ReadFromUDP(buf)
		if err != nil {
			return false
		}
		if bytes.Equal(buf[:n], msg) {
			return true
		}
	}
	return false
}

// ip runs the ip command for a test's own set-up.
func ip(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// TestCable joins two hosts of a lab by a cable: a datagram between the
// cable's addresses arrives from the sender's cable address over the cable
// interface, and a second cable takes the next /31.
func TestCable(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookPath(t, "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lab, err := netlab.New(ctx, netlab.Options{Hosts: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	a, b, c := lab.Host("a"), lab.Host("b"), lab.Host("c")
	if _, err := lab.Cable(ctx, a, a); err == nil {
		t.Errorf("cable from a to a: got no error, want a refusal")
	}
	ab, err := lab.Cable(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := lab.Cable(ctx, b, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"first cable a end", ab.AIP.String(), "198.18.0.200"},
		{"first cable b end", ab.BIP.String(), "198.18.0.201"},
		{"second cable b end", bc.AIP.String(), "198.18.0.202"},
		{"second cable link", bc.Link, "c1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	var pc net.PacketConn
	if err := b.Do(func() (err error) { pc, err = net.ListenPacket("udp", ab.BIP.String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := a.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ab.AIP, 0)), pc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("over the cable"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 32)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "over the cable" || from.(*net.UDPAddr).AddrPort().Addr() != ab.AIP {
		t.Fatalf("got %q from %v (%v), want \"over the cable\" from %s", buf[:n], from, err, ab.AIP)
	}
	out, err := b.Run("cat", "/sys/class/net/"+ab.Link+"/statistics/rx_packets")
	if err != nil {
		t.Fatal(err)
	}
	if rx, err := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || rx < 1 {
		t.Errorf("b's cable end: got %q packets received, want at least 1", out)
	}
}
