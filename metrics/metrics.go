// Package metrics exports pbxha's probe results and node health in the
// Prometheus text format on an optional HTTP listener (localhost by default),
// together with /healthz for the sidecar's own liveness.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/pbxha/pbxha/internal/httpguard"
	"github.com/pbxha/pbxha/probe"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds pbxha's collectors in a registry of its own. Its methods may be
// called concurrently.
type Metrics struct {
	reg *prometheus.Registry

	up       *prometheus.GaugeVec
	state    *prometheus.GaugeVec
	checks   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.GaugeVec
	values   *prometheus.GaugeVec
	health   prometheus.GaugeFunc
	role     func() string // set by SetInfo

	page http.Handler // the status page at /, when set (page.go)

	evOnce  sync.Once
	ev      *eventCounters // takeovers and PBX restarts, fed by Publish (ha.go)
	problem func() error   // set by SetProblem
}

// New returns the collectors, registered with process and Go runtime metrics.
// health is read at every scrape.
func New(health func() probe.Health) *Metrics {
	labels := []string{"probe", "kind"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pbxha_probe_up", Help: "1 if the probe's last check passed, else 0.",
		}, labels),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pbxha_probe_state", Help: "Settled state after rise/fall: 0 unknown, 1 ok, 2 degraded, 3 failed.",
		}, labels),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pbxha_probe_checks_total", Help: "Checks run, by result status.",
		}, append(labels, "status")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pbxha_probe_duration_seconds",
			Help:    "Check latency (round-trip time for SIP, ESL and AMI; commit latency for PostgreSQL).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, labels),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pbxha_probe_consecutive_failures", Help: "Consecutive checks that did not pass.",
		}, labels),
		values: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pbxha_probe_value", Help: "A number the probe read, by key: sessions, calls, lag_bytes, ... (see README).",
		}, append(labels, "key")),
	}
	m.health = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pbxha_node_health", Help: "Node health: 0 unknown, 1 healthy, 2 degraded, 3 failed.",
	}, func() float64 { return float64(health()) })
	m.reg.MustRegister(m.up, m.state, m.checks, m.duration, m.failures, m.values, m.health,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AlertCounters reads webhook delivery totals at scrape time.
type AlertCounters struct {
	Outbox     func() float64 // events waiting for delivery
	MemoryOnly func() float64 // of those, events the outbox could not write (lost if pbxha stops)
	Delivered  func() float64 // events answered 2xx, all endpoints
	Dropped    func() float64 // events dropped: overflow, max_age, rejected payloads, full hand-off
	Failures   func() float64 // failed delivery attempts
}

// AlertFuncs registers the webhook delivery metrics.
func (m *Metrics) AlertFuncs(c AlertCounters) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pbxha_alert_outbox_events", Help: "Events waiting in the alert outbox."}, c.Outbox),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pbxha_alert_memory_only_events", Help: "Events waiting for delivery that the outbox could not write (a full or read-only disk): lost if pbxha stops first."}, c.MemoryOnly),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pbxha_alert_delivered_total", Help: "Events delivered to an endpoint (2xx)."}, c.Delivered),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pbxha_alert_dropped_total", Help: "Events dropped undelivered: queue overflow, max_age, rejected payload."}, c.Dropped),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pbxha_alert_failures_total", Help: "Failed delivery attempts (each retry counts)."}, c.Failures),
	)
}

// SetInfo registers pbxha_node_info, whose role label is read from role at
// every scrape. Call it once.
func (m *Metrics) SetInfo(node, cluster, version string, role func() string) {
	m.role = role
	m.reg.MustRegister(&infoCollector{
		desc: prometheus.NewDesc("pbxha_node_info", "Always 1; labels name the node, its cluster, its current role and the pbxha version.",
			[]string{"node", "cluster", "role", "version"}, nil),
		node: node, cluster: cluster, version: version, role: role,
	})
}

// SetProblem makes /healthz answer 503 with problem's error while it
// returns one: the sidecar runs but cannot do its job (an unwritable state
// directory). Call it once, before serving.
func (m *Metrics) SetProblem(problem func() error) { m.problem = problem }

// infoCollector exports pbxha_node_info with the role as it is at scrape time.
type infoCollector struct {
	desc                   *prometheus.Desc
	node, cluster, version string
	role                   func() string
}

func (c *infoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *infoCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, c.node, c.cluster, c.role(), c.version)
}

// Observe records one check result and the check's state after it. It has
// the signature of probe.Options.OnResult.
func (m *Metrics) Observe(c probe.Check, r probe.Result, st probe.CheckState) {
	up, kind := 0.0, c.Kind.String()
	if r.Status == probe.OK {
		up = 1
	}
	m.up.WithLabelValues(c.Name, kind).Set(up)
	m.state.WithLabelValues(c.Name, kind).Set(float64(st.State))
	m.checks.WithLabelValues(c.Name, kind, r.Status.String()).Inc()
	m.duration.WithLabelValues(c.Name, kind).Observe(r.Latency.Seconds())
	m.failures.WithLabelValues(c.Name, kind).Set(float64(st.Failures))
	for k, v := range r.Values {
		m.values.WithLabelValues(c.Name, kind, k).Set(v)
	}
}

// ResetProbes drops every per-probe series, so that probes removed by a
// config reload disappear; the remaining ones return with their next check.
func (m *Metrics) ResetProbes() {
	m.up.Reset()
	m.state.Reset()
	m.checks.Reset()
	m.duration.Reset()
	m.failures.Reset()
	m.values.Reset()
}

// Handler serves /metrics, /healthz (200 "ok" while the daemon runs and
// SetProblem reports none, else 503 with the problem), and /role: 200 "primary" only on the
// primary, 503 with the role otherwise, for load balancers that send traffic
// to the primary alone.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if m.page != nil {
		mux.Handle("GET /{$}", m.page)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if m.problem != nil {
			if err := m.problem(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /role", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		role := "unknown"
		if m.role != nil {
			role = m.role()
		}
		if role != "primary" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, role)
	})
	return mux
}

// Listen opens the metrics listener on addr (host:port).
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return ln, nil
}

// MaxConns is the most connections the metrics listener keeps open, lowered
// to its share of the file descriptor limit (httpguard.ConnCap). Past it the
// oldest idle keep-alive connection is closed for a new client.
const MaxConns = 64

// Limits are the metrics listener's timeouts and connection cap: a scraper
// or load balancer that holds connections idle, or sends a request slowly,
// cannot take the descriptors and memory the probes need.
func Limits() httpguard.Limits {
	l := httpguard.Default
	l.MaxConns = httpguard.ConnCap(MaxConns)
	return l
}

// Serve answers on ln until ctx is done, within Limits.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	errLog := slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelDebug)
	if err := httpguard.Serve(ctx, ln, m.Handler(), Limits(), errLog); err != nil {
		return fmt.Errorf("metrics: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
