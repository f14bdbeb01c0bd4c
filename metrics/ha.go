package metrics

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/prometheus/client_golang/prometheus"
)

// Roles, PBX states and database roles the state-set metrics export, one
// series each, 1 for the current one.
var (
	roles     = []string{"primary", "standby", "fault", "maintenance", "init"}
	pbxStates = []string{"running", "starting", "stopped", "backoff", "fault", "unknown"}
	dbRoles   = []string{"primary", "standby", "unknown"}
	// unprotectedCauses are failover.UnprotectedCauses (a test keeps them
	// equal).
	unprotectedCauses = []string{"peer_unheard", "peer_maintenance", "peer_not_eligible", "no_streaming", "standby_lag", "no_tie_breaker"}
)

// Failover causes: the pbxha_failovers_total cause label, from the kind of
// the event and its decision's reason.
const (
	CauseSwitchover  = "switchover"   // planned: pbxha switchover, or failback
	CausePeerSilent  = "peer_silent"  // the primary stopped answering heartbeats
	CausePeerFailed  = "peer_failed"  // the primary released: its service failed
	CausePeerUnheard = "peer_unheard" // no primary heard since start-up (init_dead)
	CauseElection    = "election"     // both could serve and none was primary: the pair's first choice
	CauseOther       = "other"
)

// Causes lists every cause label, for the dashboard and tests.
var Causes = []string{CauseSwitchover, CausePeerSilent, CausePeerFailed, CausePeerUnheard, CauseElection, CauseOther}

// TakeoverBuckets are the histogram buckets of takeover times, in seconds:
// the default settings take over in about 0.2-1 s.
var TakeoverBuckets = []float64{.05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 30}

// HA reads, at scrape time, what an HA dashboard shows: the node's role,
// maintenance, the pair, the supervised PBX and the last reload. Each
// function may be nil (that part is not exported); each may be called
// concurrently and must return quickly.
type HA struct {
	Role        func() string
	Maintenance func() bool
	// Pair reports the pair's state (ok false in mode single).
	Pair func() (control.Pair, bool)
	// PBX reports the supervised PBX (ok false without supervision).
	PBX func() (control.PBX, bool)
	// Reload reports whether the last reload was refused, when the running
	// config was loaded, and the keys pending a restart.
	Reload func() (refused bool, loadedAt time.Time, pending []string)
	// VIPHeld reports whether this node holds the service address (ok
	// false when that cannot be known cheaply).
	VIPHeld func() (held, ok bool)
}

// haCollector exports HA at scrape time.
type haCollector struct {
	ha    HA
	descs map[string]*prometheus.Desc
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// SetHA registers the HA state metrics and the failover counters. Call it
// once; Publish (the event sink) feeds the counters.
func (m *Metrics) SetHA(ha HA) {
	c := &haCollector{ha: ha, descs: map[string]*prometheus.Desc{
		"role":            newDesc("pbxha_role", "1 for the node's current role, 0 for the others.", "role"),
		"maintenance":     newDesc("pbxha_maintenance", "1 while maintenance mode freezes every automatic action."),
		"epoch":           newDesc("pbxha_epoch", "The pair's epoch as this node knows it: raised by every takeover."),
		"peer_alive":      newDesc("pbxha_peer_alive", "1 while the peer's heartbeats arrive within dead_after on some path."),
		"peer_epoch":      newDesc("pbxha_peer_epoch", "The epoch the peer's last heartbeat carried."),
		"peer_role":       newDesc("pbxha_peer_role", "1 for the role the peer's last heartbeat carried.", "role"),
		"peer_heard":      newDesc("pbxha_peer_last_heard_seconds", "Seconds since the last valid heartbeat on any path (absent before the first)."),
		"path_up":         newDesc("pbxha_peer_path_up", "1 while a valid heartbeat arrived on the path within dead_after.", "path", "local", "peer"),
		"path_heard":      newDesc("pbxha_peer_path_last_heard_seconds", "Seconds since the last valid heartbeat on the path (absent before the first).", "path", "local", "peer"),
		"hb_accepted":     newDesc("pbxha_heartbeats_accepted_total", "Heartbeats accepted on the path since start.", "path", "local", "peer"),
		"hb_dropped":      newDesc("pbxha_heartbeats_dropped_total", "Packets dropped on the heartbeat path since start, by reason (bad_mac, replay, stale, foreign, garbage, version...).", "path", "local", "peer", "reason"),
		"vip_held":        newDesc("pbxha_vip_held", "1 when this node holds the service address (VIP)."),
		"db_role":         newDesc("pbxha_database_role", "1 for this node's database role as its pg probe last read it.", "role"),
		"db_lag":          newDesc("pbxha_database_lag_bytes", "How far this node's database is behind the peer's announced WAL position (standby only)."),
		"peer_db_lag":     newDesc("pbxha_peer_database_lag_bytes", "How far the peer's database is behind this primary's (from the peer's announced position)."),
		"pbx_state":       newDesc("pbxha_pbx_state", "1 for the supervised PBX's current state.", "state"),
		"pbx_restarts":    newDesc("pbxha_pbx_restarts_in_window", "Automatic PBX restarts within pbx.supervise.window."),
		"pbx_max":         newDesc("pbxha_pbx_max_restarts", "pbx.supervise.max_restarts: past it the node goes fault."),
		"reload_ok":       newDesc("pbxha_config_last_reload_successful", "1 when the last reload was applied (or none was asked), 0 when it was refused."),
		"reload_at":       newDesc("pbxha_config_last_reload_success_timestamp_seconds", "When the running config was loaded (Unix time)."),
		"unprotected":     newDesc("pbxha_pair_unprotected", "1 for the cause that leaves the pair unable to survive the next fault now, as the primary sees it; all 0 while it is protected.", "cause"),
		"clock_offset":    newDesc("pbxha_peer_clock_offset_seconds", "The peer's clock minus this node's, as the heartbeats measure it."),
		"pending_restart": newDesc("pbxha_config_pending_restart", "1 for each key changed in the file that takes effect only at the next start.", "key"),
	}}
	m.reg.MustRegister(c, m.failovers(), m.pbxRestarts())
}

func (c *haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateSet exports one series per value of all, 1 for current.
func stateSet(ch chan<- prometheus.Metric, d *prometheus.Desc, all []string, current string) {
	for _, s := range all {
		gauge(ch, d, b2f(s == current), s)
	}
}

func (c *haCollector) Collect(ch chan<- prometheus.Metric) {
	h, d, now := c.ha, c.descs, time.Now()
	if h.Role != nil {
		stateSet(ch, d["role"], roles, h.Role())
	}
	if h.Maintenance != nil {
		gauge(ch, d["maintenance"], b2f(h.Maintenance()))
	}
	if h.Reload != nil {
		refused, at, pending := h.Reload()
		gauge(ch, d["reload_ok"], b2f(!refused))
		gauge(ch, d["reload_at"], float64(at.Unix()))
		for _, k := range pending {
			gauge(ch, d["pending_restart"], 1, k)
		}
	}
	if h.VIPHeld != nil {
		if held, ok := h.VIPHeld(); ok {
			gauge(ch, d["vip_held"], b2f(held))
		}
	}
	if h.PBX != nil {
		if p, ok := h.PBX(); ok {
			stateSet(ch, d["pbx_state"], pbxStates, p.State)
			gauge(ch, d["pbx_restarts"], float64(p.RestartsInWindow))
			gauge(ch, d["pbx_max"], float64(p.MaxRestarts))
		}
	}
	if h.Pair == nil {
		return
	}
	pr, ok := h.Pair()
	if !ok {
		return
	}
	gauge(ch, d["epoch"], float64(pr.Epoch))
	stateSet(ch, d["unprotected"], unprotectedCauses, pr.UnprotectedCause)
	if pr.Peer.Alive {
		gauge(ch, d["clock_offset"], pr.ClockOffsetMS/1000)
	}
	gauge(ch, d["peer_alive"], b2f(pr.Peer.Alive))
	gauge(ch, d["peer_epoch"], float64(pr.Peer.Epoch))
	if pr.Peer.Role != "" {
		stateSet(ch, d["peer_role"], roles, pr.Peer.Role)
	}
	if t := pr.Peer.LastHeard; t != nil {
		gauge(ch, d["peer_heard"], now.Sub(*t).Seconds())
	}
	for i, p := range pr.Peer.Paths {
		idx := strconv.Itoa(i)
		gauge(ch, d["path_up"], b2f(p.Alive), idx, p.Local, p.Peer)
		if p.LastHeard != nil {
			gauge(ch, d["path_heard"], now.Sub(*p.LastHeard).Seconds(), idx, p.Local, p.Peer)
		}
		ch <- prometheus.MustNewConstMetric(d["hb_accepted"], prometheus.CounterValue, float64(p.Accepted), idx, p.Local, p.Peer)
		for reason, n := range p.Drops {
			ch <- prometheus.MustNewConstMetric(d["hb_dropped"], prometheus.CounterValue, float64(n), idx, p.Local, p.Peer, reason)
		}
	}
	for _, n := range pr.Nodes {
		switch {
		case n.Self && n.DB != "":
			stateSet(ch, d["db_role"], dbRoles, n.DB)
			if n.LagBytes != nil {
				gauge(ch, d["db_lag"], float64(*n.LagBytes))
			}
		case !n.Self && n.LagBytes != nil:
			gauge(ch, d["peer_db_lag"], float64(*n.LagBytes))
		}
	}
}

// counters fed by events.
type eventCounters struct {
	mu        sync.Mutex
	failovers *prometheus.CounterVec
	last      prometheus.Gauge
	lastAt    prometheus.Gauge
	took      prometheus.Histogram
	restarts  *prometheus.CounterVec
}

func (m *Metrics) counters() *eventCounters {
	m.evOnce.Do(func() {
		m.ev = &eventCounters{
			failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "pbxha_failovers_total", Help: "Takeovers by this node, by kind (failover, switchover) and cause.",
			}, []string{"kind", "cause"}),
			last: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "pbxha_last_failover_duration_seconds", Help: "The last takeover by this node: from detection to ready.",
			}),
			lastAt: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "pbxha_last_failover_timestamp_seconds", Help: "When this node last took over (Unix time).",
			}),
			took: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "pbxha_takeover_duration_seconds", Help: "Takeovers by this node: from detection to ready.", Buckets: TakeoverBuckets,
			}),
			restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "pbxha_pbx_restarts_total", Help: "PBX restarts, by reason: automatic (down, hung) or operator.",
			}, []string{"reason"}),
		}
		for _, k := range []string{event.Failover, event.Switchover} {
			for _, c := range Causes {
				m.ev.failovers.WithLabelValues(k, c) // every series from the start: rate() sees the first one
			}
		}
		for _, r := range []string{"automatic", "operator"} {
			m.ev.restarts.WithLabelValues(r)
		}
	})
	return m.ev
}

func (m *Metrics) failovers() prometheus.Collector {
	c := m.counters()
	return multi{c.failovers, c.last, c.lastAt, c.took}
}

func (m *Metrics) pbxRestarts() prometheus.Collector { return m.counters().restarts }

// multi is several collectors registered as one.
type multi []prometheus.Collector

func (ms multi) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range ms {
		c.Describe(ch)
	}
}

func (ms multi) Collect(ch chan<- prometheus.Metric) {
	for _, c := range ms {
		c.Collect(ch)
	}
}

// Publish counts the events the metrics follow: takeovers (failover and
// switchover, with their timeline's ready_ms) and PBX restarts. It is an
// event.Sink: it never blocks.
func (m *Metrics) Publish(e event.Event) {
	c := m.counters()
	switch e.Kind {
	case event.Failover, event.Switchover:
		reason, _ := e.Details["reason"].(string)
		c.failovers.WithLabelValues(e.Kind, Cause(e.Kind, reason)).Inc()
		if ms, ok := number(e.Details["ready_ms"]); ok {
			s := ms / 1000
			c.last.Set(s)
			c.took.Observe(s)
		}
		c.lastAt.Set(float64(e.Time.Unix()))
	case event.PBXRestarted:
		reason := "automatic"
		if r, _ := e.Details["reason"].(string); strings.HasPrefix(r, "operator") {
			reason = "operator"
		}
		c.restarts.WithLabelValues(reason).Inc()
	}
}

// Cause classifies a takeover by its event kind and its decision's reason.
func Cause(kind, reason string) string {
	switch {
	case kind == event.Switchover, strings.Contains(reason, "switchover"), strings.Contains(reason, "failback"):
		return CauseSwitchover
	case strings.Contains(reason, "silent since"):
		return CausePeerSilent
	case strings.Contains(reason, "released and is not eligible"), strings.Contains(reason, "not eligible"):
		return CausePeerFailed
	case strings.Contains(reason, "not heard within init_dead"):
		return CausePeerUnheard
	case strings.Contains(reason, "no primary"):
		return CauseElection
	}
	return CauseOther
}

// number reads a JSON-ish number from event details (int64 in memory,
// float64 after a round trip).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
