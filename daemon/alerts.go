package daemon

import (
	"fmt"
	"log/slog"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/metrics"
)

// AlertEndpoints turns alerts.endpoints into alert endpoints, reading the
// secret files; an error names the config file and the endpoint's key. The
// daemon delivers to them, and `pbxha alert test` sends to them.
func AlertEndpoints(cfg *configs.Config) ([]alert.Endpoint, error) {
	eps := cfg.AlertConfig().Endpoints
	for i, e := range cfg.Alerts.Endpoints {
		sec, err := configs.ReadSecret(e.Secret, e.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: alerts.endpoints[%d].secret_file: %w", cfg.Source, i, err)
		}
		eps[i].Secret = sec
	}
	return eps, nil
}

// newDispatcher builds webhook delivery from the config, or nil without
// endpoints.
func newDispatcher(cfg *configs.Config, logger *slog.Logger) (*alert.Dispatcher, error) {
	eps, err := AlertEndpoints(cfg)
	if err != nil || len(eps) == 0 {
		return nil, err
	}
	ac := cfg.AlertConfig()
	ac.Endpoints = eps
	d, err := alert.New(ac, logger.With("component", "alert"))
	if err != nil {
		return nil, fmt.Errorf("%s: alerts: %w", cfg.Source, err)
	}
	return d, nil
}

// alertsStatus renders the dispatcher's state for the control API.
func alertsStatus(d *alert.Dispatcher) control.Alerts {
	out := control.Alerts{Outbox: d.Depth()}
	for _, s := range d.Status() {
		e := control.AlertEndpoint{Name: s.Name, Queued: s.Queued, MemoryOnly: s.MemoryOnly, Delivered: s.Delivered, Dropped: s.Dropped, LastError: s.LastError}
		if !s.LastSuccess.IsZero() {
			t := s.LastSuccess
			e.LastSuccess = &t
		}
		if !s.LastErrorAt.IsZero() {
			t := s.LastErrorAt
			e.LastErrorAt = &t
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	return out
}

// alertCounters adapts the dispatcher's totals to the metrics.
func alertCounters(d *alert.Dispatcher) metrics.AlertCounters {
	sum := func(f func(alert.EndpointStatus) uint64) func() float64 {
		return func() float64 {
			var n uint64
			for _, s := range d.Status() {
				n += f(s)
			}
			return float64(n)
		}
	}
	return metrics.AlertCounters{
		Outbox: func() float64 { return float64(d.Depth()) },
		MemoryOnly: func() float64 {
			n := 0
			for _, s := range d.Status() {
				n += s.MemoryOnly
			}
			return float64(n)
		},
		Delivered: sum(func(s alert.EndpointStatus) uint64 { return s.Delivered }),
		Dropped: func() float64 {
			return sum(func(s alert.EndpointStatus) uint64 { return s.Dropped })() + float64(d.Counters().HandoffDropped)
		},
		Failures: sum(func(s alert.EndpointStatus) uint64 { return s.Failures }),
	}
}
