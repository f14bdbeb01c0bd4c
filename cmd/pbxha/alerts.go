package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pbxha/pbxha/alert"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/daemon"
	"github.com/pbxha/pbxha/event"
	"github.com/spf13/cobra"
)

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
			eps, err := daemon.AlertEndpoints(cfg)
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
