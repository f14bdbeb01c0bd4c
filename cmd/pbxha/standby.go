package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func newStandbyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "standby rebuild",
		Short: "Operate this node's standby database",
		Args:  cobra.NoArgs,
	}
	var socket string
	var detach bool
	var poll time.Duration
	rb := &cobra.Command{
		Use:   "rebuild [--detach]",
		Short: "Re-clone this node's database from the primary (pg_basebackup), with progress",
		Long: `Re-clone this node's PostgreSQL data directory from the primary with
pg_basebackup (WAL streamed), and start it as a streaming standby. The daemon
runs the rebuild; this command asks for it and shows its progress (percent,
rate, ETA) until it ends. Interrupting the command does not stop the rebuild:
pbxha status shows it.

The daemon refuses on the primary, while this node's database is a primary,
when the peer is not a live healthy primary, and while a rebuild runs (here,
or a base backup on the primary). The old data directory is kept aside until
the new one streams, and put back when the rebuild fails.

Exit codes: 0 rebuilt (or started, with --detach), 1 refused or failed,
2 usage, 3 no daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poll <= 0 {
				return usageErr(fmt.Errorf("--poll must be positive, got %s", poll))
			}
			s, err := controlSocket(g, socket)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = runRebuild(ctx, g.stdout, g.stderr, control.NewClient(s), detach, poll)
			if errors.Is(err, control.ErrNoDaemon) {
				return statusError(s, err)
			}
			return err
		},
	}
	rb.Flags().StringVar(&socket, "socket", "", "control socket (default: control.socket from the config)")
	rb.Flags().BoolVar(&detach, "detach", false, "only start the rebuild; do not wait for it")
	rb.Flags().DurationVar(&poll, "poll", 500*time.Millisecond, "how often to read the progress")
	cmd.AddCommand(rb)
	return cmd
}

// runRebuild asks the daemon for a rebuild and, unless detach, follows its
// progress in a bar on errOut until it ends.
func runRebuild(ctx context.Context, out, errOut io.Writer, c *control.Client, detach bool, poll time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := c.Rebuild(rctx)
	cancel()
	var ae *control.ActionError
	switch {
	case errors.As(err, &ae):
		return &exitError{code: exitFailure, err: fmt.Errorf("standby rebuild refused: %s", ae.Msg)}
	case err != nil:
		return err
	}
	if detach {
		fmt.Fprintln(out, "standby rebuild started; pbxha status shows its progress")
		return nil
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(errOut),
		progressbar.OptionSetDescription("stopping"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(errOut) }),
	)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var total int64 = -1
	for {
		st, err := c.Status(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if rb := st.Rebuild; err == nil && rb != nil {
			if rb.TotalBytes > 0 && rb.TotalBytes != total {
				total = rb.TotalBytes
				bar.ChangeMax64(total)
			}
			bar.Describe(rb.Phase)
			if rb.DoneBytes > 0 {
				_ = bar.Set64(rb.DoneBytes)
			}
			switch rb.State {
			case "finished":
				_ = bar.Finish()
				took := time.Duration(0)
				if rb.FinishedAt != nil {
					took = rb.FinishedAt.Sub(rb.StartedAt)
				}
				fmt.Fprintf(out, "standby rebuilt from %s in %s (%d MB): streaming\n", rb.From, took.Round(time.Second), rb.DoneBytes>>20)
				return nil
			case "failed":
				_ = bar.Exit()
				fmt.Fprintln(errOut)
				aside := "the old data directory was put back"
				if rb.KeptAside != "" {
					aside = "the old data directory is still at " + rb.KeptAside
				}
				return &exitError{code: exitFailure, err: fmt.Errorf("standby rebuild failed while %s: %s; %s", rb.Phase, rb.Error, aside)}
			}
		}
		select {
		case <-ctx.Done():
			_ = bar.Exit()
			fmt.Fprintln(errOut, "\nno longer waiting; the rebuild goes on in the daemon (pbxha status shows it)")
			return &exitError{code: exitFailure}
		case <-tick.C:
		}
	}
}
