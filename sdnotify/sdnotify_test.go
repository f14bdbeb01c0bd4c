package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct{ name, socket string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", "@pbxha-sdnotify-test-" + t.Name()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.socket
			if name[0] == '@' {
				name = "\x00" + name[1:]
			}
			srv := listen(t, name)
			n, err := New(tc.socket, "", "", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if !n.Enabled() {
				t.Fatal("got disabled notifier with a socket, want enabled")
			}
			steps := []struct {
				send func() error
				want string
			}{
				{func() error { return n.Ready("probing\n3 probes") }, "READY=1\nSTATUS=probing 3 probes"},
				{func() error { return n.Status("healthy") }, "STATUS=healthy"},
				{n.Watchdog, "WATCHDOG=1"},
				{n.Reloading, "RELOADING=1"},
				{n.Stopping, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatal(err)
				}
				if got := recv(t, srv); got != s.want {
					t.Errorf("got %q, want %q", got, s.want)
				}
			}
		})
	}
}

func TestWatchdogEnv(t *testing.T) {
	tests := []struct {
		name     string
		usec     string
		wpid     string
		want     time.Duration
		wantFail bool
	}{
		{"off", "", "", 0, false},
		{"for us", "3000000", "42", 3 * time.Second, false},
		{"no pid given", "500000", "", 500 * time.Millisecond, false},
		{"for another process", "3000000", "7", 0, false},
		{"garbage", "soon", "", 0, true},
		{"zero", "0", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New("", tc.usec, tc.wpid, 42)
			if (err != nil) != tc.wantFail {
				t.Fatalf("got err %v, want failure %v", err, tc.wantFail)
			}
			if err == nil && n.WatchdogTimeout() != tc.want {
				t.Errorf("got watchdog %s, want %s", n.WatchdogTimeout(), tc.want)
			}
		})
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	n, err := New("", "", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{n.Watchdog, n.Stopping, func() error { return n.Ready("x") }, n.Close} {
		if err := f(); err != nil {
			t.Errorf("got %v outside systemd, want nil", err)
		}
	}
	if n.Enabled() {
		t.Error("got enabled without a socket")
	}
}
