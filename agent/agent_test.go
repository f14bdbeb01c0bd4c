package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/probe"
)

func check(name string, st probe.Status) probe.Check {
	return probe.Check{
		Name: name, Kind: "tcp", Target: name + ":1", Interval: time.Second, Timeout: 100 * time.Millisecond,
		Rise: 1, Fall: 1, Critical: true,
		Probe: probe.Func(func(context.Context) probe.Result {
			return probe.Result{Status: st, Detail: name, Latency: 2 * time.Millisecond}
		}),
	}
}

func TestAgentStatusAndReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closedA, closedB atomic.Int32
		rec := &recorder{}
		a := New(Config{Node: "node-a", Cluster: "c", History: 3, Source: "test.yaml",
			Checks: []probe.Check{check("one", probe.OK)}, Close: func() { closedA.Add(1) }},
			slog.New(slog.DiscardHandler), rec)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()

		time.Sleep(5 * time.Second)
		st := a.Status()
		if st.Health != "healthy" || st.Role != "primary" || st.Mode != "single" || len(st.Probes) != 1 {
			t.Fatalf("got %+v, want one healthy probe in single mode", st)
		}
		p := st.Probes[0]
		if p.State != "ok" || len(p.History) != 3 || p.Last == nil || p.Last.LatencyMS != 2 {
			t.Errorf("got probe %+v, want ok, 3 results, latency 2ms", p)
		}

		a.ReloadFailed(errors.New("bad.yaml: log.format: must be text or json"))
		if got := a.Status().Config.LastReloadError; got == "" {
			t.Error("got no reload error in status, want the refused reload's error")
		}

		err := a.Reload(ctx, Config{Node: "node-a", History: 3, Source: "test.yaml",
			Checks: []probe.Check{check("one", probe.OK), check("two", probe.Failed)}, Close: func() { closedB.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if closedA.Load() != 1 {
			t.Errorf("got old probes closed %d times after reload, want 1", closedA.Load())
		}
		st = a.Status()
		if len(st.Probes) != 2 || st.Probes[0].Checks < 4 || st.Config.LastReloadError != "" {
			t.Errorf("after reload got %+v, want probe one carried over and the reload error cleared", st)
		}
		time.Sleep(5 * time.Second)
		if got := a.Status().Health; got != "failed" {
			t.Errorf("got health %s with a failed critical probe, want failed", got)
		}
		cancel()
		<-done
		var kinds []string
		for _, e := range rec.all() {
			kinds = append(kinds, e.Kind+":"+e.Severity.String())
		}
		want := []string{"probe_state:info", "health_change:info", "config_reload:warning", "config_reload:info",
			"probe_state:critical", "health_change:critical"}
		if !slices.Equal(kinds, want) {
			t.Errorf("got events %v, want %v", kinds, want)
		}
		if closedB.Load() != 1 {
			t.Errorf("got new probes closed %d times at shutdown, want 1", closedB.Load())
		}
	})
}

type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Publish(e event.Event) event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return e
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestAgentRoleChanges(t *testing.T) {
	rec := &recorder{}
	state := "running"
	a := New(Config{Node: "node-a", PBX: func() control.PBX { return control.PBX{State: state, FaultReason: "5 restarts in 10m0s"} }},
		slog.New(slog.DiscardHandler), rec)
	a.CheckRole() // still primary: no event
	state = "fault"
	a.CheckRole()
	if got := a.Status().Role; got != "fault" {
		t.Errorf("got role %s with the PBX in fault, want fault", got)
	}
	a.SetMaintenance(true)
	state = "running"
	a.SetMaintenance(false)
	var got []string
	for _, e := range rec.all() {
		if e.Kind == event.RoleChange {
			got = append(got, e.Details["from"].(string)+"→"+e.Details["to"].(string))
		}
	}
	if want := []string{"primary→fault", "fault→maintenance", "maintenance→primary"}; !slices.Equal(got, want) {
		t.Errorf("got role changes %v, want %v", got, want)
	}
}

// TestMaintenanceSurvivesRestart: maintenance switched on is written to the
// state directory; a new agent (pbxha restarted) starts in maintenance and
// tells the supervisor at once; switched off, the file is gone.
func TestMaintenanceSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), MaintenanceFileName)
	var told []bool
	cfg := Config{Node: "node-a", MaintenanceFile: file, OnMaintenance: func(on bool) { told = append(told, on) }}
	first := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err := first.SetMaintenance(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("maintenance on left no file: %v", err)
	}
	told = nil
	second := New(cfg, slog.New(slog.DiscardHandler), nil)
	if !second.Maintenance() || second.Role() != "maintenance" || !slices.Equal(told, []bool{true}) {
		t.Errorf("after a restart got maintenance %v, role %s, hook calls %v; want on, maintenance, [true]", second.Maintenance(), second.Role(), told)
	}
	if err := second.SetMaintenance(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("maintenance off: got %v, want the file gone", err)
	}
	if third := New(cfg, slog.New(slog.DiscardHandler), nil); third.Maintenance() {
		t.Error("after off and a restart got maintenance on, want off")
	}
	// A state directory that cannot be written refuses the switch.
	bad := Config{Node: "node-a", MaintenanceFile: filepath.Join(t.TempDir(), "missing", MaintenanceFileName)}
	a := New(bad, slog.New(slog.DiscardHandler), nil)
	if err := a.SetMaintenance(true); err == nil || a.Maintenance() {
		t.Errorf("unwritable file: got %v, maintenance %v; want an error and maintenance off", err, a.Maintenance())
	}
}
