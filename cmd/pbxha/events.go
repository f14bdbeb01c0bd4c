package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/spf13/cobra"
)

func newEventsCmd(g *globals) *cobra.Command {
	var (
		since    time.Duration
		asJSON   bool
		follow   bool
		kinds    []string
		severity string
	)
	cmd := &cobra.Command{
		Use:   "events [--since D] [--kind K]... [--severity S] [-f] [--json]",
		Short: "List events from the local event log, oldest first; -f follows new ones",
		Long: `List events from the local event log (<state_dir>/events.jsonl) in time
order: probe state changes, health and role changes, failovers, PBX restarts,
maintenance, config reloads. Works whether or not the daemon runs, and with a
config a reload refused (its problems are printed as a warning). The log keeps
events.keep events for events.max_age (30 days by default).

--kind (repeatable, or comma-separated) and --severity (the lowest shown:
info, warning or critical) filter; --follow (-f) prints new events as they
come, like tail -f, until interrupted.

Exit codes: 0, 1 the log cannot be read, 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := eventFilter(since, kinds, severity)
			if err != nil {
				return usageErr(err)
			}
			cfg, _ := lenientConfig(g)
			if cfg == nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("events: no config to find state_dir in; give -c FILE")}
			}
			path := filepath.Join(cfg.StateDir, event.LogName)
			out := event.NewWriter(g.stdout, asJSON)
			if !follow {
				evs, err := event.ReadLog(path, f.Since)
				if err != nil && !os.IsNotExist(err) {
					return &exitError{code: exitFailure, err: err}
				}
				for _, e := range evs {
					if f.Match(e) {
						_ = out.Write(e)
					}
				}
				return out.Flush()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return followEvents(ctx, path, f, out)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&since, "since", 0, "only events newer than this (e.g. 1h); default all kept")
	fl.BoolVar(&asJSON, "json", false, "one JSON event per line (the json alert schema without schema_version)")
	fl.BoolVarP(&follow, "follow", "f", false, "after the events kept, print new ones as they come until interrupted")
	fl.StringSliceVar(&kinds, "kind", nil, "only these kinds (repeat or comma-separate): "+strings.Join(event.Kinds, ", "))
	fl.StringVar(&severity, "severity", "info", "only events at or above this severity: info, warning, critical")
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(event.Kinds, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("severity", cobra.FixedCompletions([]string{"info", "warning", "critical"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// eventFilter checks the flags and builds the filter.
func eventFilter(since time.Duration, kinds []string, severity string) (event.Filter, error) {
	var f event.Filter
	if since < 0 {
		return f, fmt.Errorf("--since must not be negative, got %s", since)
	}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	for _, k := range kinds {
		if !slices.Contains(event.Kinds, k) {
			return f, fmt.Errorf("--kind %q: want one of %s", k, strings.Join(event.Kinds, ", "))
		}
	}
	f.Kinds = kinds
	if err := f.MinSeverity.UnmarshalText([]byte(severity)); err != nil {
		return f, fmt.Errorf("--severity %q: want info, warning or critical", severity)
	}
	return f, nil
}

// followEvents prints the kept events that pass f, then new ones as they
// are appended, flushing each, until ctx ends.
func followEvents(ctx context.Context, path string, f event.Filter, out *event.Writer) error {
	err := event.Follow(ctx, path, 200*time.Millisecond, func(e event.Event, old bool) {
		if f.Match(e) {
			_ = out.Write(e)
			if !old {
				_ = out.Flush()
			}
		}
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}
