package test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// fill writes into dir until its file system is full and returns the
// filler's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 1 << 14 { // at most 1 GiB: bounded even if the size option were ignored
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatal(err)
		}
	}
	t.Fatalf("%s never filled up", dir)
	return ""
}

// TestStandbyWithFullStateDir runs a pair of real pbxha processes on
// loopback; node-b's state dir is a small file system that fills up. When
// node-a dies, node-b cannot persist epoch 2 and does not take over — and
// says so: one critical state_dir_unwritable alert, delivered to the webhook
// though the outbox cannot write it (counted as memory_only while it
// waits), the error in status. Once space is freed it takes over and the
// alert is resolved.
func TestStandbyWithFullStateDir(t *testing.T) {
	pbxha, testpbx := build(t)
	testenv.RequireRoot(t)
	rcv := &receiver{secret: []byte("s3cret-key")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	secret := filepath.Join(t.TempDir(), "alert.secret")
	if err := os.WriteFile(secret, []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tb := startTieBreaker(t, nil, "127.0.0.1:0")
	key := newPairKey(t)
	hbA, hbB := testenv.FreeAddrOn(t, "127.0.0.1"), testenv.FreeAddrOn(t, "127.0.0.2")
	sipA, sipB := testenv.StartTestPBX(t, testpbx).UDP, testenv.StartTestPBX(t, testpbx).UDP
	sockA, _, dA := loopbackNode{Name: "node-a", SIP: sipA, Local: hbA, Peer: hbB, Key: key, TieBreaker: tb}.start(t, pbxha)
	sockB, dirB, dB := loopbackNode{Name: "node-b", SIP: sipB, Local: hbB, Peer: hbA, Key: key, TieBreaker: tb,
		Setup: func(dir string) { testenv.MountTmpfs(t, dir, "size=16m") },
		Top: fmt.Sprintf(`alerts:
  backoff_initial: 100ms
  backoff_max: 500ms
  endpoints:
    - {name: ops, url: "http://%s/hook", format: json, secret_file: %s, kinds: [state_dir_unwritable]}
`, ln.Addr(), secret)}.start(t, pbxha)
	dump := func() { t.Logf("node-a:\n%s\nnode-b:\n%s", dA.output(), lastLines(dB.output(), 60)) }
	waitRoles(t, 30*time.Second, "node-a primary", dump, []string{sockA, sockB}, "primary", "standby")

	filler := fill(t, dirB)
	rcv.setDown(true) // the alert waits in memory, where status must count it
	if err := dA.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-dA.done
	testenv.WaitForReason(t, 20*time.Second, "node-b reports its state dir, counts the alert in memory only", func() (bool, string) {
		st, err := status(t, sockB)
		if err != nil || st.Pair == nil || st.Alerts == nil {
			return false, fmt.Sprint(err)
		}
		ep := st.Alerts.Endpoints[0]
		return st.Pair.StateDirError != "" && strings.HasPrefix(st.Pair.Reason, "not acting") && ep.MemoryOnly >= 1 && ep.Queued >= ep.MemoryOnly,
			fmt.Sprintf("state dir error %q, reason %q, alerts %+v", st.Pair.StateDirError, st.Pair.Reason, ep)
	})
	rcv.setDown(false)
	testenv.WaitFor(t, 20*time.Second, "the alert delivered", func() bool { return len(rcv.find("state_dir_unwritable", "")) >= 1 })
	time.Sleep(2 * time.Second) // 40 more decisions that cannot persist the epoch: still one alert
	got := rcv.find("state_dir_unwritable", "")
	if len(got) != 1 || got[0]["severity"] != "critical" || got[0]["resolved"] == true {
		dump()
		t.Fatalf("got alerts %v, want one critical state_dir_unwritable for the episode", got)
	}
	if st, err := status(t, sockB); err != nil || st.Role != "standby" || st.Pair.Epoch != 1 {
		t.Fatalf("got node-b %+v (%v), want standby at epoch 1 while the epoch cannot be written", st, err)
	}
	if n := strings.Count(dB.output(), "state dir unwritable"); n != 1 {
		t.Errorf("got %d ERROR lines about the state dir, want 1 for the episode", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitRoles(t, 20*time.Second, "node-b primary once its state dir takes writes", dump, []string{sockB}, "primary")
	testenv.WaitFor(t, 20*time.Second, "the alert resolved", func() bool {
		for _, e := range rcv.find("state_dir_unwritable", "") {
			if e["resolved"] == true {
				return true
			}
		}
		return false
	})
	st, err := status(t, sockB)
	if err != nil || st.Pair.Epoch != 2 || st.Pair.StateDirError != "" {
		t.Errorf("got node-b %+v (%v), want epoch 2 and no state dir error", st.Pair, err)
	}
}
