package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/spf13/cobra"
)

func newSwitchoverCmd(g *globals) *cobra.Command {
	var (
		socket, to     string
		drain, timeout time.Duration
		force          bool
	)
	cmd := &cobra.Command{
		Use:   "switchover [--to NODE] [--drain-timeout D] [--force]",
		Short: "Move the primary role to another node, planned",
		Long: `Move the primary role (the VIP and the service) to NODE, by default the node
that is not primary now (with coordination etcd, which runs any number of
nodes: the best other node, by priority, then the least lag). Run on the
primary, it first waits up to --drain-timeout for the active calls its
esl/ami probes count to end. The
target takes over only when it is healthy and, with a database, caught up,
and the primary releases only while a standby streams WAL from its database
(its demotion then ships the rest); --force promotes past max_lag_bytes and
releases without a streaming standby. The command waits up to --timeout for
the outcome; a request still pending then ends and moves nothing later.

Exit codes: 0 done, 1 refused or timed out, 2 usage, 3 no daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if drain < 0 || timeout <= 0 {
				return usageErr(fmt.Errorf("--drain-timeout must not be negative and --timeout must be positive"))
			}
			s, err := controlSocket(g, socket)
			if err != nil {
				return err
			}
			// The daemon ends the request after drain+timeout and answers;
			// the slack leaves time for that answer to arrive.
			ctx, cancel := context.WithTimeout(cmd.Context(), drain+timeout+10*time.Second)
			defer cancel()
			res, err := control.NewClient(s).Switchover(ctx, to, drain, timeout, force)
			switch {
			case errors.Is(err, control.ErrNoDaemon):
				return statusError(s, err)
			case err != nil:
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintf(g.stdout, "switchover to %s: %s in %.0f ms; primary %s at epoch %d\n",
				res.Target, res.Outcome, res.TookMS, orUnknown(res.Primary), res.Epoch)
			for _, s := range res.Timeline {
				fmt.Fprintf(g.stdout, "%8.0f ms  %-12s %s\n", s.OffsetMS, s.Node, s.What)
			}
			if res.Outcome != "done" {
				fmt.Fprintf(g.stdout, "last decision: %s\n", res.Reason)
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "control socket (default: control.socket from the config)")
	f.StringVar(&to, "to", "", "node to make primary (default: the node that is not primary; with coordination etcd, the best other node)")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "on the primary, wait up to this long for active calls to end")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the move after the drain; the request then ends")
	f.BoolVar(&force, "force", false, "promote even past max_lag_bytes")
	return cmd
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
