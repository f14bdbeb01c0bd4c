package netlab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

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
	lab, err := New(ctx, []string{"a", "b"})
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
	if a.IP != Addr(11) || b.IP != Addr(12) || lab.Host("c") != nil {
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

	vip := netip.AddrPortFrom(Addr(100), 5060).String()
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
	staleName := NamePrefix + strconv.Itoa(dead.Process.Pid) + "-sw"
	liveName := NamePrefix + strconv.Itoa(os.Getppid()) + "-sw" // `go test` lives
	for _, name := range []string{staleName, liveName} {
		if err := ip(ctx, "netns", "add", name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if nsExists(name) {
				ip(context.Background(), "netns", "del", name)
			}
		})
	}
	removed, err := RemoveStale(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, name := range removed {
		found = found || name == staleName
		if name == liveName {
			t.Errorf("removed %s, whose process lives", liveName)
		}
	}
	if !found || nsExists(staleName) {
		t.Errorf("got removed %v, want %s among them and gone", removed, staleName)
	}
	if !nsExists(liveName) {
		t.Errorf("namespace %s of a live process was deleted", liveName)
	}
}
