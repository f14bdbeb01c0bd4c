package netns

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// udpRecv listens on addr:port inside h and returns the socket.
func udpRecv(t *testing.T, h *Host, addr netip.Addr, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// delivered sends one datagram from src to dst's socket and reports whether
// it arrived within wait.
func delivered(t *testing.T, src *Host, to *net.UDPConn, wait time.Duration) bool {
	t.Helper()
	var c *net.UDPConn
	err := src.Do(func() error {
		var err error
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

func TestTopology(t *testing.T) {
	var names []string
	t.Run("build", func(t *testing.T) {
		topo := New(t, Options{Hosts: []string{"a", "b"}, IPv6: true})
		a, b := topo.Host("a"), topo.Host("b")
		names = []string{topo.Switch, a.NS, b.NS}

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
			if _, err := os.Stat("/run/netns/" + n); err != nil {
				t.Errorf("namespace %s: got %v, want it to exist", n, err)
			}
		}

		out := b.MustRun("ip", "-o", "addr", "show", "dev", "eth0")
		for _, want := range []string{"198.18.0.12/24", "fd00:198:18::c/64"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("b's addresses: got %q, want %s among them", out, want)
			}
		}

		// Do runs in b's namespace: only b has 198.18.0.12 on eth0.
		var ifi *net.Interface
		if err := b.Do(func() error {
			var err error
			ifi, err = net.InterfaceByName("eth0")
			return err
		}); err != nil {
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

		// A process started in b runs in b's namespace and dies at cleanup.
		cmd, err := b.Start("sleep", "600")
		if err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() {
			// Registered after New's cleanup, so it runs first: the process
			// must still be alive here and gone once New's cleanup ran,
			// which the outer test checks.
			names = append(names, "pid:"+strconv.Itoa(pid))
		})
		// ip netns exec enters the namespace, then execs sleep.
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
			comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			if strings.TrimSpace(string(comm)) == "sleep" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if link == want {
			t.Errorf("started process's namespace: got the test's own %s, want b's", link)
		}
	})
	if len(names) == 0 {
		t.Fatal("build subtest did not record its names")
	}
	for _, n := range names {
		if pid, ok := strings.CutPrefix(n, "pid:"); ok {
			if _, err := os.Stat("/proc/" + pid); err == nil {
				t.Errorf("process %s after cleanup: got alive, want killed", pid)
			}
			continue
		}
		if _, err := os.Stat("/run/netns/" + n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s after cleanup: got %v, want it deleted", n, err)
		}
	}
}

func TestBadHostName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
	}{
		{"too long", []string{"abcdefghijklm"}},
		{"duplicate", []string{"n1", "n1"}},
		{"slash", []string{"a/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fatalT{TB: t}
			func() {
				defer func() { recover() }()
				New(ft, Options{Hosts: tc.hosts})
			}()
			if !ft.failed {
				t.Errorf("New(%q): got no failure, want one", tc.hosts)
			}
		})
	}
}

// fatalT records Fatalf instead of ending the test, so a test can check that
// New refuses bad options. Its cleanups still run on the real test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
