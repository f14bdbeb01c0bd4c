// Package agent runs one pbxha node: it schedules the node's probes, logs
// every settled state change, swaps probes on a config reload and answers the
// control API's status. In single-node mode (no peer configured yet) the node
// is primary by definition.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
)

// Config is what the agent needs to know about the node.
type Config struct {
	Node    string
	Cluster string
	History int    // results kept per probe
	Source  string // where the config came from, for status
	// PendingRestart lists the keys whose value in the file differs from
	// the running one and takes effect only at the next start
	// (configs.KeepRestartOnly), for status.
	PendingRestart []string
	Version        string // pbxha version, for status
	Checks         []probe.Check
	Close          func() // releases the checks' probes (connections, sockets); may be nil
	OnResult       func(probe.Check, probe.Result, probe.CheckState)

	// PBX, when set, reports the supervised PBX for status.
	PBX func() control.PBX
	// Alerts, when set, reports webhook delivery for status.
	Alerts func() control.Alerts
	// OnServiceFailed, when set, is called whenever "a critical probe of
	// the PBX (any kind but pg) is failed" turns true or false: the
	// supervisor's hang detection.
	OnServiceFailed func(bool)
	// OnStateChange, when set, is called after every settled change of a
	// probe's state, once the node's health is updated: the failover node
	// decides on it. It must not block.
	OnStateChange func()
	// OnMaintenance, when set, is called when maintenance mode changes,
	// and by New when it restores maintenance mode from MaintenanceFile.
	OnMaintenance func(bool)
	// MaintenanceFile, when set, keeps maintenance mode across restarts:
	// the file exists while maintenance is on (state_dir/maintenance).
	MaintenanceFile string
	// Pair, when set, puts the node in mode pair: it reports the failover
	// state, whose role replaces the single-node role.
	Pair func() (role string, pair control.Pair)
	// Mode names the mode Pair reports in status ("pair" when empty;
	// "etcd" for a node coordinated through etcd).
	Mode string
	// Sync and Rebuild, when set, report file sync and the last standby
	// rebuild (nil: none ran) for status.
	Sync    func() control.Sync
	Rebuild func() *control.Rebuild
}

// Publisher stamps and distributes events; *event.Publisher implements it.
type Publisher interface {
	Publish(event.Event) event.Event
}

// Agent runs one node. Its methods may be called concurrently.
type Agent struct {
	log     *slog.Logger
	started time.Time
	reloads chan Config
	events  Publisher

	ready     chan struct{} // closed once every check has a result
	readyOnce sync.Once
	progress  atomic.Int64 // unix nanoseconds of the newest check result

	mu        sync.Mutex
	cfg       Config
	loadedAt  time.Time
	reloadErr string
	mon       *probe.Monitor
	health    probe.Health // last health seen by probeChanged
	role      string       // last role seen by CheckRole
	svcFailed bool         // a critical probe is failed, as last reported
	maint     bool
}

// New returns an agent for cfg; Run starts it.
// events, when non-nil, receives every event the agent emits.
func New(cfg Config, logger *slog.Logger, events Publisher) *Agent {
	now := time.Now()
	a := &Agent{log: logger, started: now, reloads: make(chan Config), cfg: cfg, loadedAt: now, ready: make(chan struct{}), events: events, role: failover.RolePrimary.String()}
	a.mon = probe.NewMonitor(cfg.Checks, a.monitorOptions(cfg), nil)
	if on, since := restoreMaintenance(cfg.MaintenanceFile); on {
		a.maint = true
		a.log.Warn("maintenance mode restored: it was on when pbxha stopped; pbxha maintenance off resumes automatic action",
			"maintenance", true, "since", since)
		if cfg.OnMaintenance != nil {
			cfg.OnMaintenance(true)
		}
	}
	return a
}

// Run runs the probes until ctx is done, switching to a new set of probes on
// each Reload. It returns after every check in flight has returned and the
// probes have been closed.
func (a *Agent) Run(ctx context.Context) {
	for {
		a.mu.Lock()
		cfg, mon := a.cfg, a.mon
		a.mu.Unlock()

		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { mon.Run(mctx); close(done) }()

		var next *Config
		select {
		case <-ctx.Done():
		case c := <-a.reloads:
			next = &c
		}
		stop()
		<-done
		if cfg.Close != nil {
			cfg.Close()
		}
		if next == nil {
			return
		}
		newMon := probe.NewMonitor(next.Checks, a.monitorOptions(*next), mon)
		a.mu.Lock()
		a.cfg, a.mon, a.loadedAt, a.reloadErr = *next, newMon, time.Now(), ""
		a.mu.Unlock()
		summary := fmt.Sprintf("config reloaded from %s: %d probes", next.Source, len(next.Checks))
		details := map[string]any{"source": next.Source, "probes": len(next.Checks)}
		args := []any{"source", next.Source, "probes", len(next.Checks)}
		if len(next.PendingRestart) > 0 {
			summary += "; pending restart: " + strings.Join(next.PendingRestart, ", ") + " take effect at the next start"
			details["pending_restart"] = next.PendingRestart
			args = append(args, "pending_restart", strings.Join(next.PendingRestart, ","))
		}
		a.log.Info("config reloaded", args...)
		a.publish(event.Event{Kind: event.ConfigReload, Severity: event.Info, Summary: summary, Details: details})
	}
}

func (a *Agent) config() Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

func (a *Agent) monitor() *probe.Monitor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mon
}

func (a *Agent) monitorOptions(cfg Config) probe.Options {
	return probe.Options{
		History: cfg.History,
		OnResult: func(c probe.Check, r probe.Result, st probe.CheckState) {
			a.progress.Store(time.Now().UnixNano())
			a.checkReady()
			if cfg.OnResult != nil {
				cfg.OnResult(c, r, st)
			}
		},
		OnChange: a.probeChanged,
	}
}

// probeChanged logs a settled-state change, publishes it as an event, and
// follows it with a health_change event when the node's health moved.
func (a *Agent) probeChanged(c probe.Change) {
	args := []any{"probe", c.Check, "kind", c.Kind, "from", c.From.String(), "to", c.To.String()}
	if c.Result.Detail != "" {
		args = append(args, "detail", c.Result.Detail)
	}
	if c.Result.Err != nil {
		args = append(args, "class", c.Result.Class, "err", c.Result.Err)
	}
	// A failed probe is critical only when the probe is (it fails the
	// node); a non-critical one only degrades it.
	level, sev := slog.LevelInfo, event.Info
	switch {
	case c.To == probe.Failed && c.Critical:
		level, sev = slog.LevelWarn, event.Critical
	case c.To == probe.Failed, c.To == probe.Degraded:
		level, sev = slog.LevelWarn, event.Warning
	}
	a.log.Log(context.Background(), level, "probe state changed", args...)
	details := map[string]any{"probe": c.Check, "kind": c.Kind, "critical": c.Critical, "from": c.From.String(), "to": c.To.String()}
	if c.Result.Detail != "" {
		details["detail"] = c.Result.Detail
	}
	if c.Result.Err != nil {
		details["class"], details["error"] = c.Result.Class, c.Result.Err.Error()
	}
	a.publish(event.Event{
		Kind: event.ProbeState, Severity: sev, Details: details, Resolved: c.To == probe.OK,
		Summary: fmt.Sprintf("probe %s %s → %s%s", c.Check, c.From, c.To, suffix(c.Result.Detail)),
	})

	states := a.monitor().Snapshot()
	failed := probe.PBXFailed(states)
	health := probe.Aggregate(states)
	a.mu.Lock()
	prev, prevFailed, onFailed, onChange := a.health, a.svcFailed, a.cfg.OnServiceFailed, a.cfg.OnStateChange
	a.health, a.svcFailed = health, failed
	a.mu.Unlock()
	if failed != prevFailed && onFailed != nil {
		onFailed(failed)
	}
	if onChange != nil {
		onChange()
	}
	if health == prev {
		return
	}
	hsev, hlevel := event.Info, slog.LevelInfo
	switch health {
	case probe.HealthDegraded:
		hsev, hlevel = event.Warning, slog.LevelWarn
	case probe.HealthFailed:
		hsev, hlevel = event.Critical, slog.LevelError
	}
	a.log.Log(context.Background(), hlevel, "node health changed", "from", prev.String(), "health", health.String())
	a.publish(event.Event{
		Kind: event.HealthChange, Severity: hsev, Resolved: health == probe.Healthy,
		Summary: fmt.Sprintf("node health %s → %s", prev, health),
		Details: map[string]any{"from": prev.String(), "to": health.String()},
	})
}

// SetMaintenance switches maintenance mode: while on, nothing acts
// automatically (the PBX is not restarted). It publishes a maintenance event.
//
// With Config.MaintenanceFile set, the mode is written there first, so that
// it survives a restart of pbxha; when that fails the mode stays as it was
// and the error says why.
func (a *Agent) SetMaintenance(on bool) error {
	a.mu.Lock()
	if a.maint == on {
		a.mu.Unlock()
		return nil
	}
	// Written under the lock: two operators switching at once leave the
	// file as the mode.
	if err := persistMaintenance(a.cfg.MaintenanceFile, on, time.Now()); err != nil {
		a.mu.Unlock()
		return err
	}
	a.maint = on
	hook := a.cfg.OnMaintenance
	a.mu.Unlock()
	if hook != nil {
		hook(on)
	}
	defer a.CheckRole()
	state := map[bool]string{true: "on", false: "off"}[on]
	a.log.Warn("maintenance mode "+state, "maintenance", on)
	a.publish(event.Event{Kind: event.Maintenance, Severity: event.Warning, Resolved: !on,
		Summary: "maintenance mode " + state + ": automatic action " + map[bool]string{true: "frozen", false: "resumed"}[on],
		Details: map[string]any{"maintenance": on}})
	return nil
}

// singleRole is the role of a node without a peer, as failover.Decide
// gives it: primary, unless maintenance freezes it or its PBX is past the
// restart limit (fault).
func singleRole(maint bool, pbx *control.PBX) string {
	o := failover.Observation{Role: failover.RolePrimary, Maintenance: maint, PBXFault: pbx != nil && pbx.State == "fault"}
	return failover.Decide(o, failover.Policy{Single: true}).Role.String()
}

// Role returns the node's current role.
func (a *Agent) Role() string {
	a.mu.Lock()
	cfg, maint := a.cfg, a.maint
	a.mu.Unlock()
	role, _, _, _ := roleOf(cfg, maint)
	return role
}

// roleOf reads the PBX and pair state from cfg's providers and derives the
// role and mode from them: the failover node's role in mode pair, else the
// single-node role.
func roleOf(cfg Config, maint bool) (role, mode string, pbx *control.PBX, pair *control.Pair) {
	if cfg.PBX != nil {
		p := cfg.PBX()
		pbx = &p
	}
	if cfg.Pair != nil {
		r, p := cfg.Pair()
		mode := cfg.Mode
		if mode == "" {
			mode = "pair"
		}
		return r, mode, pbx, &p
	}
	return singleRole(maint, pbx), "single", pbx, nil
}

// CheckRole publishes a role_change event when the node's role differs from
// the last one seen. The daemon calls it after anything that may change the
// role: a PBX event, maintenance switched.
func (a *Agent) CheckRole() {
	if a.config().Pair != nil {
		return // the failover node publishes its own role changes
	}
	role := a.Role()
	a.mu.Lock()
	prev := a.role
	a.role = role
	a.mu.Unlock()
	if prev == "" || prev == role {
		return
	}
	sev, reason := event.Warning, "maintenance mode"
	switch role {
	case failover.RoleFault.String():
		sev, reason = event.Critical, "the PBX is past its restart limit"
		if cfg := a.config(); cfg.PBX != nil {
			if why := cfg.PBX().FaultReason; why != "" {
				reason += ": " + why
			}
		}
	case failover.RolePrimary.String():
		sev, reason = event.Info, "back in service"
	}
	a.log.Warn("role changed", "from", prev, "role", role, "reason", reason)
	a.publish(event.Event{Kind: event.RoleChange, Severity: sev, Resolved: role == failover.RolePrimary.String(),
		Summary: fmt.Sprintf("role %s → %s: %s", prev, role, reason),
		Details: map[string]any{"from": prev, "to": role, "reason": reason}})
}

func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return " (" + detail + ")"
}

// publish hands e to the configured event sink, if any.
func (a *Agent) publish(e event.Event) {
	if a.events != nil {
		a.events.Publish(e)
	}
}

// Ready is closed once every check has completed at least once (at once for
// a node without probes): the node's health then means something.
func (a *Agent) Ready() <-chan struct{} {
	a.checkReady()
	return a.ready
}

func (a *Agent) checkReady() {
	select {
	case <-a.ready:
		return
	default:
	}
	for _, s := range a.monitor().Snapshot() {
		if s.Checks == 0 {
			return
		}
	}
	a.readyOnce.Do(func() { close(a.ready) })
}

// LastProgress returns when the newest check result arrived (zero before the
// first). A probe loop that stops producing results is stuck; the systemd
// watchdog keep-alive is sent only while this advances.
func (a *Agent) LastProgress() time.Time {
	n := a.progress.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Reload switches to cfg's probes. Probes that stay the same keep their
// state. It blocks until Run has taken the new config, or ctx is done.
func (a *Agent) Reload(ctx context.Context, cfg Config) error {
	select {
	case a.reloads <- cfg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReloadFailed records a reload that was refused (the old config stays), so
// that status shows it.
func (a *Agent) ReloadFailed(err error) {
	a.mu.Lock()
	a.reloadErr = err.Error()
	a.mu.Unlock()
	a.publish(event.Event{Kind: event.ConfigReload, Severity: event.Warning,
		Summary: "config reload refused; the running config stays", Details: map[string]any{"error": err.Error()}})
}

// ReloadState reports the last reload's outcome for metrics: whether it
// was refused, when the running config was loaded, and the keys pending a
// restart.
func (a *Agent) ReloadState() (refused bool, loadedAt time.Time, pending []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reloadErr != "", a.loadedAt, a.cfg.PendingRestart
}

// Checks returns the checks the agent runs now.
func (a *Agent) Checks() []probe.Check { return a.monitor().Checks() }

// States returns every probe's current state.
func (a *Agent) States() []probe.CheckState { return a.monitor().Snapshot() }

// Maintenance reports whether maintenance mode is on.
func (a *Agent) Maintenance() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.maint
}

// Health returns the node's current health.
func (a *Agent) Health() probe.Health { return a.monitor().Health() }

// Status builds the control API's status document.
func (a *Agent) Status() control.Status {
	a.mu.Lock()
	cfg, loadedAt, reloadErr, mon, maint := a.cfg, a.loadedAt, a.reloadErr, a.mon, a.maint
	a.mu.Unlock()
	states := mon.Snapshot()
	role, mode, pbx, pair := roleOf(cfg, maint)
	if pair != nil && pbx != nil && len(pair.Nodes) > 0 {
		pair.Nodes[0].PBX = pbxSummary(*pbx)
	}
	var alerts *control.Alerts
	if cfg.Alerts != nil {
		al := cfg.Alerts()
		alerts = &al
	}
	var syncSt *control.Sync
	if cfg.Sync != nil {
		sy := cfg.Sync()
		syncSt = &sy
	}
	var rb *control.Rebuild
	if cfg.Rebuild != nil {
		rb = cfg.Rebuild()
	}
	st := control.Status{
		Sync:          syncSt,
		Rebuild:       rb,
		SchemaVersion: control.SchemaVersion,
		Node:          cfg.Node,
		Cluster:       cfg.Cluster,
		Mode:          mode,
		Pair:          pair,
		Role:          role,
		Maintenance:   maint,
		PBX:           pbx,
		Alerts:        alerts,
		Health:        probe.Aggregate(states).String(),
		Version:       cfg.Version,
		PID:           os.Getpid(),
		StartedAt:     a.started,
		Now:           time.Now(),
		Config:        control.Config{Source: cfg.Source, LoadedAt: loadedAt, LastReloadError: reloadErr, PendingRestart: cfg.PendingRestart},
		Probes:        make([]control.Probe, 0, len(states)),
	}
	for _, s := range states {
		p := control.Probe{
			Name: s.Name, Kind: s.Kind.String(), Target: s.Target, Critical: s.Critical,
			State: s.State.String(), Since: s.Since, ConsecutiveFailures: s.Failures, Checks: s.Checks,
			History: make([]control.Result, 0, len(s.History)),
		}
		if s.Last != nil {
			r := toResult(*s.Last)
			p.Last = &r
		}
		for _, r := range s.History {
			p.History = append(p.History, toResult(r))
		}
		st.Probes = append(st.Probes, p)
	}
	return st
}

// pbxSummary is the PBX's state in the cluster view: "running pid 4242".
func pbxSummary(p control.PBX) string {
	if p.PID != 0 {
		return fmt.Sprintf("%s pid %d", p.State, p.PID)
	}
	return p.State
}

func toResult(r probe.Result) control.Result {
	out := control.Result{
		Status: r.Status.String(), Code: r.Code, Detail: r.Detail, Class: r.Class,
		Start: r.Start, LatencyMS: float64(r.Latency) / float64(time.Millisecond), Values: r.Values,
	}
	if r.Err != nil {
		out.Error = r.Err.Error()
	}
	return out
}
