package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/metrics"
	"github.com/spf13/cobra"
)

// eventLogPath is the local event log in the state directory.
func eventLogPath(cfg *configs.Config) string { return filepath.Join(cfg.StateDir, event.LogName) }

// alertEndpoints turns alerts.endpoints into alert endpoints, reading secret files.
func alertEndpoints(cfg *configs.Config) ([]alert.Endpoint, error) {
	eps := cfg.AlertConfig().Endpoints
	for i, e := range cfg.Alerts.Endpoints {
		sec, err := secret(e.Secret, e.SecretFile)
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
	eps, err := alertEndpoints(cfg)
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

func newAlertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "Webhook alert tools"}
	var name string
	test := &cobra.Command{
		Use:   "test [--endpoint NAME]",
		Short: "Send a test event to every alert endpoint (or one) and print each answer",
		Long: `Send a test event straight to the configured endpoints (not through the
outbox, and without a running daemon), signed like real alerts, and print each
endpoint's HTTP status and answer.

Exit codes: 0 every endpoint answered 2xx, 1 one did not, 2 usage or config error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			eps, err := alertEndpoints(cfg)
			if err != nil {
				return usageErr(err)
			}
			return alertTest(cmd.Context(), g, cfg, eps, name)
		},
	}
	test.Flags().StringVar(&name, "endpoint", "", "only this endpoint (by name)")
	cmd.AddCommand(test)
	return cmd
}

func alertTest(ctx context.Context, g *globals, cfg *configs.Config, eps []alert.Endpoint, only string) error {
	if len(eps) == 0 {
		return usageErr(fmt.Errorf("%s: alerts.endpoints: no endpoint is configured", cfg.Source))
	}
	pub := &event.Publisher{Node: cfg.Node.Name, Cluster: cfg.Node.Cluster}
	e := pub.Publish(event.Event{Kind: event.Test, Severity: event.Info,
		Summary: "pbxha alert test from " + cfg.Node.Name, Details: map[string]any{"sent_by": "pbxha alert test"}})
	failed, sent := 0, 0
	for _, ep := range eps {
		if only != "" && ep.Name != only {
			continue
		}
		sent++
		code, body, err := alert.Send(ctx, ep, e, cfg.Alerts.ExternalURL)
		body, _, _ = strings.Cut(body, "\n")
		body = strings.TrimSpace(body)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(g.stdout, "%s: failed: %v\n", ep.Name, err)
		case code < 200 || code > 299:
			failed++
			fmt.Fprintf(g.stdout, "%s: HTTP %d %s\n", ep.Name, code, body)
		default:
			fmt.Fprintf(g.stdout, "%s: HTTP %d %s\n", ep.Name, code, body)
		}
	}
	if sent == 0 {
		return usageErr(fmt.Errorf("%s: alerts.endpoints: no endpoint named %q", cfg.Source, only))
	}
	if failed > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
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
