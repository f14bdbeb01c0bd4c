package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/internal/testenv"
)

// receiver is a webhook endpoint on loopback that verifies signatures and
// records the events it accepted. It can be switched down (503).
type receiver struct {
	secret []byte
	mu     sync.Mutex
	down   bool
	events []map[string]any
	bad    int // requests with a bad signature
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := alert.Verify(r.secret, req.Header.Get(alert.HeaderTimestamp), body, req.Header.Get(alert.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	r.events = append(r.events, e)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(v bool) { r.mu.Lock(); r.down = v; r.mu.Unlock() }

// find returns the accepted events of kind whose details.to is state ("" any).
func (r *receiver) find(kind, state string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, e := range r.events {
		d, _ := e["details"].(map[string]any)
		if e["kind"] == kind && (state == "" || d["to"] == state) {
			out = append(out, e)
		}
	}
	return out
}

// TestDaemonAlerts runs the real daemon with a signed json webhook: a hung
// PBX is alerted; events survive a SIGKILL of pbxha while the endpoint is
// down and are delivered by the next pbxha; `pbxha events` and `pbxha alert
// test` work.
func TestDaemonAlerts(t *testing.T) {
	pbxha, testpbx := build(t)
	pbx := testenv.StartTestPBX(t, testpbx)
	addr := pbx.UDP
	rcv := &receiver{secret: []byte("s3cret-key")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alert.secret"), []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath, socket := filepath.Join(dir, "pbxha.yaml"), filepath.Join(dir, "pbxha.sock")
	writeConfig(t, cfgPath, socket, addr, fmt.Sprintf(`alerts:
  backoff_initial: 100ms
  backoff_max: 500ms
  endpoints:
    - name: ops
      url: http://%s/hook
      format: json
      secret_file: %s/alert.secret
`, ln.Addr(), dir))

	d := start(t, nil, pbxha, "run", "-c", cfgPath)
	testenv.WaitFor(t, 20*time.Second, "probe ok alert", func() bool { return len(rcv.find("probe_state", "ok")) > 0 })

	testenv.Freeze(t, pbx.PID)
	testenv.WaitFor(t, 20*time.Second, "probe failed alert", func() bool { return len(rcv.find("probe_state", "failed")) > 0 })
	e := rcv.find("probe_state", "failed")[0]
	if e["schema_version"] != float64(1) || e["severity"] != "critical" || e["node"] != "node-a" || e["id"] == "" {
		t.Errorf("got alert %v, want schema 1, critical, node-a, an id", e)
	}

	// Endpoint down, PBX recovers, pbxha is killed before it can deliver.
	rcv.setDown(true)
	testenv.Thaw(t, pbx.PID)
	testenv.WaitFor(t, 20*time.Second, "probe ok again", func() bool { return probeState(t, socket, "pbx") == "ok" })
	testenv.WaitFor(t, 20*time.Second, "recovery event in the outbox", func() bool {
		st, err := status(t, socket)
		return err == nil && st.Alerts != nil && st.Alerts.Outbox > 0 && st.Alerts.Endpoints[0].LastError != ""
	})
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
	before := len(rcv.find("probe_state", "ok"))

	rcv.setDown(false)
	start(t, nil, pbxha, "run", "-c", cfgPath)
	testenv.WaitFor(t, 20*time.Second, "the outbox delivered after the restart", func() bool {
		return len(rcv.find("probe_state", "ok")) > before
	})
	rcv.mu.Lock()
	bad := rcv.bad
	rcv.mu.Unlock()
	if bad != 0 {
		t.Errorf("got %d requests with a bad signature, want 0", bad)
	}

	out, err := exec.Command(pbxha, "events", "-c", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "probe_state") || !strings.Contains(string(out), "probe pbx ok → failed") {
		t.Errorf("pbxha events: %v\n%s", err, out)
	}
	out, err = exec.Command(pbxha, "alert", "test", "-c", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ops: HTTP 204") {
		t.Errorf("pbxha alert test: %v\n%s", err, out)
	}
	if len(rcv.find("test", "")) != 1 {
		t.Errorf("got %d test events at the receiver, want 1", len(rcv.find("test", "")))
	}
}
