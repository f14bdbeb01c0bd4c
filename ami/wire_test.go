package ami_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/ami/amitest"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureStatus is the server state the fixtures were written for.
var fixtureStatus = amitest.Status{
	AsteriskVersion: "20.5.0",
	AMIVersion:      "9.0.0",
	Startup:         time.Date(2023, 11, 14, 19, 13, 20, 0, time.UTC),
	Reload:          time.Date(2023, 11, 14, 21, 0, 0, 0, time.UTC),
	CurrentCalls:    4,
	ProcessedCalls:  -1,
}

// TestDoubleRendersFixtures checks that the double writes the documented
// Asterisk formats byte for byte.
func TestDoubleRendersFixtures(t *testing.T) {
	st22 := fixtureStatus
	st22.ProcessedCalls = 1234
	legacy := fixtureStatus
	legacy.Legacy = true
	booted := time.Date(2023, 11, 14, 21, 18, 20, 0, time.UTC)
	tests := []struct {
		file string
		got  string
	}{
		{"banner.txt", amitest.Banner(fixtureStatus)},
		{"login_success.txt", amitest.Reply("Success", "pbxha-1", "Authentication accepted")},
		{"login_failed.txt", amitest.Reply("Error", "pbxha-1", "Authentication failed")},
		{"ping.txt", amitest.Pong("pbxha-2", time.Unix(1700000000, 123456000))},
		{"corestatus.txt", amitest.CoreStatus("pbxha-3", fixtureStatus)},
		{"corestatus_asterisk22.txt", amitest.CoreStatus("pbxha-3", st22)},
		{"corestatus_asterisk16.txt", amitest.CoreStatus("pbxha-3", legacy)},
		{"coresettings.txt", amitest.CoreSettings("pbxha-4", fixtureStatus)},
		{"permission_denied.txt", amitest.Reply("Error", "pbxha-6", "Permission denied")},
		{"event_fullybooted.txt", amitest.FullyBooted(fixtureStatus, booted)},
		{"event_devicestate.txt", amitest.DeviceStateEvent()},
		{"logoff.txt", amitest.Reply("Goodbye", "pbxha-9", "Thanks for all the fish.")},
		{"core_show_calls.txt", amitest.CoreShowCalls("pbxha-7", amitest.Status{CurrentCalls: 1, ProcessedCalls: 12})},
		{"coreshowchannels.txt", amitest.CoreShowChannels("pbxha-8", amitest.Status{CurrentCalls: 1}, time.Unix(1700000000, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if want := fixture(t, tt.file); tt.got != want {
				t.Errorf("got %q, want %q", tt.got, want)
			}
		})
	}
}

// TestDoubleSession drives the double over a raw socket, the way a person
// would with telnet, and compares every answer with the fixtures.
func TestDoubleSession(t *testing.T) {
	srv, err := amitest.Start(amitest.Options{Status: fixtureStatus, Now: func() time.Time { return time.Unix(1700000000, 123456000) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)

	steps := []struct {
		name string
		send string
		want string
	}{
		{"banner", "", fixture(t, "banner.txt")},
		{"action before login", "Action: CoreStatus\r\nActionID: pbxha-6\r\n\r\n", fixture(t, "permission_denied.txt")},
		{"login", fixture(t, "action_login.txt"), fixture(t, "login_success.txt")},
		{"ping", "Action: Ping\r\nActionID: pbxha-2\r\n\r\n", fixture(t, "ping.txt")},
		{"corestatus", "Action: CoreStatus\r\nActionID: pbxha-3\r\n\r\n", fixture(t, "corestatus.txt")},
		{"coresettings", "Action: CoreSettings\r\nActionID: pbxha-4\r\n\r\n", fixture(t, "coresettings.txt")},
		{"unknown action", "Action: Bogus\r\nActionID: pbxha-5\r\n\r\n", fixture(t, "unknown_action.txt")},
		{"logoff", "Action: Logoff\r\nActionID: pbxha-9\r\n\r\n", fixture(t, "logoff.txt")},
	}
	for _, s := range steps {
		if s.send != "" {
			if _, err := io.WriteString(conn, s.send); err != nil {
				t.Fatalf("%s: write: %v", s.name, err)
			}
		}
		got := make([]byte, len(s.want))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("%s: read: %v", s.name, err)
		}
		if string(got) != s.want {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	if b, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after logoff: got byte %q, error %v, want io.EOF", b, err)
	}
	want := []string{"CoreStatus", "Login", "Ping", "CoreStatus", "CoreSettings", "Bogus", "Logoff"}
	if got := srv.Actions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("actions: got %q, want %q", got, want)
	}
}

// TestDoubleRejectsLogin checks the failed-login answer and that the double
// hangs up afterwards, like Asterisk.
func TestDoubleRejectsLogin(t *testing.T) {
	srv, err := amitest.Start(amitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "Action: Login\r\nActionID: pbxha-1\r\nUsername: pbxha\r\nSecret: wrong\r\n\r\n")
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixture(t, "banner.txt") + fixture(t, "login_failed.txt"); string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDoubleFollowsCalls: with SetCalls, CoreStatus, "core show calls" and
// CoreShowChannels report the live counts.
func TestDoubleFollowsCalls(t *testing.T) {
	srv, err := amitest.Start(amitest.Options{Status: fixtureStatus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	active := 7
	srv.SetCalls(func() (int, int) { return active, 30 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ami.Dial(ctx, srv.Addr(), "pbxha", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.CoreStatus(ctx, time.UTC)
	if err != nil || st.CurrentCalls != 7 {
		t.Errorf("CoreStatus: got %+v, %v; want 7 current calls", st, err)
	}
	out, err := c.Command(ctx, "core show calls")
	if err != nil || out != "7 active calls\n30 calls processed" {
		t.Errorf("core show calls: got %q, %v; want 7 active calls, 30 calls processed", out, err)
	}
	m, err := c.Do(ctx, "CoreShowChannels")
	if err != nil || m.Get("EventList") != "start" {
		t.Errorf("CoreShowChannels: got %v, %v; want the list's start", m, err)
	}
}
