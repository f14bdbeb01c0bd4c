package test

import (
	"github.com/pbxha/pbxha/internal/testenv"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs pbxha as systemd would with Type=notify and
// WatchdogSec=1s: it must say READY=1 after its probes ran, send WATCHDOG=1
// keep-alives, and STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	pbxha, testpbx := build(t)
	addr := testenv.StartTestPBX(t, testpbx).UDP
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
	writeConfig(t, cfgPath, socket, addr, "")

	d := start(t, []string{"NOTIFY_SOCKET=" + notify, "WATCHDOG_USEC=1000000"}, pbxha, "run", "-c", cfgPath)
	var got []string
	seen := func(prefix string) bool {
		for _, m := range got {
			if strings.HasPrefix(m, prefix) {
				return true
			}
		}
		return false
	}
	buf := make([]byte, 1024)
	deadline := time.Now().Add(30 * time.Second)
	for !(seen("READY=1") && seen("WATCHDOG=1")) {
		if time.Now().After(deadline) {
			t.Fatalf("got %q within 30s, want READY=1 and WATCHDOG=1\n%s", got, d.output())
		}
		srv.SetReadDeadline(deadline)
		n, err := srv.Read(buf)
		if err != nil {
			t.Fatalf("reading notifications: %v (got %q)", err, got)
		}
		got = append(got, string(buf[:n]))
	}
	if !strings.HasPrefix(got[0], "READY=1\nSTATUS=probing, health ") {
		t.Errorf("got first notification %q, want READY=1 with a status line", got[0])
	}
	if st, err := status(t, socket); err != nil || len(st.Probes) != 1 || st.Probes[0].Checks == 0 {
		t.Errorf("after READY=1 got status %+v, %v; want the probe to have run", st, err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !seen("STOPPING=1") {
		srv.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := srv.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1 after SIGTERM: %v (got %q)", err, got)
		}
		got = append(got, string(buf[:n]))
	}
	<-d.done
}
