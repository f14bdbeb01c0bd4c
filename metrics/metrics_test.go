package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsExposition(t *testing.T) {
	m := New(func() probe.Health { return probe.HealthDegraded })
	role := "primary"
	m.SetInfo("node-a", "pair", "dev", func() string { return role })
	var problem atomic.Pointer[error]
	m.SetProblem(func() error {
		if p := problem.Load(); p != nil {
			return *p
		}
		return nil
	})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	c := probe.Check{Name: "fs", Kind: "esl"}
	m.Observe(c, probe.Result{Status: probe.OK, Latency: 3 * time.Millisecond, Values: map[string]float64{"sessions": 12}},
		probe.CheckState{State: probe.OK})
	m.Observe(c, probe.Result{Status: probe.Failed, Latency: 2 * time.Second}, probe.CheckState{State: probe.OK, Failures: 1})

	base := "http://" + ln.Addr().String()
	code, body := scrape(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("got /metrics %d, want 200", code)
	}
	for _, want := range []string{
		`pbxha_probe_up{kind="esl",probe="fs"} 0`,
		`pbxha_probe_state{kind="esl",probe="fs"} 1`,
		`pbxha_probe_checks_total{kind="esl",probe="fs",status="ok"} 1`,
		`pbxha_probe_checks_total{kind="esl",probe="fs",status="failed"} 1`,
		`pbxha_probe_consecutive_failures{kind="esl",probe="fs"} 1`,
		`pbxha_probe_value{key="sessions",kind="esl",probe="fs"} 12`,
		`pbxha_probe_duration_seconds_count{kind="esl",probe="fs"} 2`,
		`pbxha_node_health 2`,
		`pbxha_node_info{cluster="pair",node="node-a",role="primary",version="dev"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("scrape lacks %q", want)
		}
	}

	m.ResetProbes()
	_, body = scrape(t, base+"/metrics")
	if strings.Contains(body, `probe="fs"`) {
		t.Error("got fs series after ResetProbes, want none")
	}
	if code, body := scrape(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("got /healthz %d %q, want 200 ok", code, body)
	}
	unwritable := errors.New("state_dir unwritable since 2026-03-01T12:00:00Z: read-only file system")
	problem.Store(&unwritable)
	if code, body := scrape(t, base+"/healthz"); code != 503 || body != unwritable.Error()+"\n" {
		t.Errorf("got /healthz %d %q with a problem, want 503 and the problem", code, body)
	}
	problem.Store(nil)
	if code, body := scrape(t, base+"/role"); code != 200 || body != "primary\n" {
		t.Errorf("got /role %d %q on the primary, want 200 primary", code, body)
	}
	role = "standby"
	if code, body := scrape(t, base+"/role"); code != 503 || body != "standby\n" {
		t.Errorf("got /role %d %q on a standby, want 503 standby", code, body)
	}
}
