package testenv

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/netlab"
	"golang.org/x/sys/unix"
)

// loopback is where FreeAddr finds its ports.
var loopback = netip.MustParseAddr("127.0.0.1")

// FreeAddr returns "127.0.0.1:PORT" with a port from FreePort: nothing
// listens there on UDP or TCP, so a connection is refused until the test
// starts a server on it. It fails t when no port is found.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrOn(t, loopback.String())
}

// FreeAddrOn is FreeAddr on ip ("127.0.0.2", "198.18.0.11").
func FreeAddrOn(t testing.TB, ip string) string {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil {
		t.Fatalf("testenv: free address on %q: %v", ip, err)
	}
	port, err := netlab.FreePort(a)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// BindUDPAs binds a UDP socket on addr ("127.0.0.1:PORT") owned by uid, as
// a program of that local user would: the socket is created with the
// calling thread's file system uid switched to uid (the kernel records it
// as the socket's owner), so no child process is needed. It needs root
// (RequireRoot) and closes the socket when the test ends.
func BindUDPAs(t testing.TB, uid int, addr string) {
	t.Helper()
	RequireRoot(t)
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("testenv: bind udp as %d: %v", uid, err)
	}
	runtime.LockOSThread()
	prev, err := unix.SetfsuidRetUid(uid)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("testenv: bind udp as %d: setfsuid: %v", uid, err)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	_, _ = unix.SetfsuidRetUid(prev)
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("testenv: bind udp %s as uid %d: %v", addr, uid, err)
	}
	t.Cleanup(func() { c.Close() })
}

// SilentTCP returns "127.0.0.1:PORT" of a socket that listens with a
// backlog of 0 and never accepts, its accept queue filled first: the kernel
// then drops further SYNs, so a connect there hangs as it does towards a
// frozen or firewalled server, until the test ends. It fails t when the
// queue does not fill within 16 connections.
func SilentTCP(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(loopback, uint16(sa.(*unix.SockaddrInet4).Port)).String()
	for i := range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return addr // full: this SYN went unanswered
			}
			t.Fatalf("testenv: filling the accept queue of %s, connect %d: %v", addr, i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("testenv: %s still answers after 16 connections to a listener with backlog 0 that never accepts", addr)
	return ""
}
