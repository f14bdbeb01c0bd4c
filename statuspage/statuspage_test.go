package statuspage

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
)

func TestPage(t *testing.T) {
	now := time.Now()
	heard := now.Add(-200 * time.Millisecond)
	st := control.Status{Node: "node-b", Cluster: "lab", Mode: "pair", Role: "primary", Health: "healthy", Now: now,
		Config: control.Config{PendingRestart: []string{"hooks"}},
		Pair: &control.Pair{Epoch: 2, Reason: "primary; node-a standby", Nodes: []control.ClusterNode{
			{Node: "node-b", Self: true, Alive: true, Role: "primary", Health: "healthy", Epoch: 2, Probes: "1 ok"},
			{Node: "node-a", Alive: true, Role: "standby", Health: "failed", Epoch: 2, Probes: "1 failed: sip", LastHeard: &heard},
		}},
		Probes: []control.Probe{{Name: "sip", Kind: "sip", State: "ok", Critical: true, Last: &control.Result{Status: "ok", Detail: "200 OK <script>", LatencyMS: 0.4}}},
	}
	evs := []event.Event{
		{Kind: event.Failover, Severity: event.Critical, Node: "node-b", Time: now.Add(-time.Minute), Summary: "node-b took over at epoch 2 in 640ms",
			Details: map[string]any{"ready_ms": float64(640), "decided_ms": float64(10), "vip_up_ms": int64(300), "epoch": 2}},
		{Kind: event.RoleChange, Severity: event.Warning, Node: "node-b", Time: now.Add(-50 * time.Second), Summary: "node-b: standby → primary"},
	}
	rec := httptest.NewRecorder()
	Handler(Source{Status: func() control.Status { return st }, Events: func() []event.Event { return evs }}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body, _ := io.ReadAll(rec.Body)
	page := string(body)
	for _, want := range []string{
		"<b>node-b</b>", "<b>node-a</b>", `class="badge standby">standby`, `class="badge failed">failed`, "200ms",
		"pending restart: hooks", "200 OK &lt;script&gt;", "node-b took over at epoch 2 in 640ms",
		`<span class="badge warning">warning</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The timeline in time order: decided, vip up, ready.
	d, v, r := strings.Index(page, ">decided<"), strings.Index(page, ">vip up<"), strings.Index(page, ">ready<")
	if d < 0 || !(d < v && v < r) {
		t.Errorf("timeline steps at %d, %d, %d; want decided, vip up, ready in order", d, v, r)
	}
	// Newest event first.
	if strings.Index(page, "standby → primary") > strings.Index(page, "took over at epoch 2 in 640ms</td>") {
		t.Error("recent events: want the newest first")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
}
