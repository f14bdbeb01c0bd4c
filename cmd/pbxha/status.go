package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/spf13/cobra"
)

type statusOpts struct {
	socket   string
	json     bool
	watch    bool
	interval time.Duration
}

func newStatusCmd(g *globals) *cobra.Command {
	var o statusOpts
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon's role, health and probes",
		Long: `Show the running daemon's role, health and probes, read from its control socket.

Exit codes: 0 the daemon answered, 2 usage or config error, 3 no daemon answered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.interval <= 0 {
				return usageErr(fmt.Errorf("--interval must be positive, got %s", o.interval))
			}
			socket, err := controlSocket(g, o.socket)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runStatus(ctx, g.stdout, control.NewClient(socket), socket, o)
		},
	}
	cmd.Flags().StringVar(&o.socket, "socket", "", "control socket (default: control.socket from the config)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the status document as JSON (schema in README)")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Second, "refresh interval with --watch")
	return cmd
}

func runStatus(ctx context.Context, w io.Writer, c *control.Client, socket string, o statusOpts) error {
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(qctx)
		cancel()
		if o.watch {
			fmt.Fprint(w, "\033[H\033[2J") // home and clear, like watch(1)
		}
		switch {
		case err != nil && !o.watch:
			return statusError(socket, err)
		case err != nil:
			fmt.Fprintln(w, statusError(socket, err).Error())
		case o.json:
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return err
			}
		default:
			control.WriteText(w, st)
		}
		if !o.watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}
