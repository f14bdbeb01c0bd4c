package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/spf13/cobra"
)

func newPBXCmd(g *globals) *cobra.Command {
	var socket string
	var timeout time.Duration
	var wait bool
	cmd := &cobra.Command{
		Use:   "pbx restart|stop|start|reset [--wait]",
		Short: "Operate the supervised PBX through the running daemon",
		Long: `Operate the PBX that the running daemon supervises (pbx.supervise.mode exec,
pidfile or systemd):

  restart  stop the PBX (SIGTERM, SIGKILL after stop_timeout) and start it again
  stop     stop it and keep it stopped: no automatic restart until start
  start    start it (refused while a PBX process is already running)
  reset    clear the restart count and a fault; a PBX that is down starts at once

With --wait (restart, start, reset), the command returns only once the PBX
answers again: every critical probe of the PBX (sip, esl, ami, tcp, exec) has
passed a check that began after the action, all within --timeout.

Exit codes: 0 done, 1 the daemon refused, the action failed or the PBX did not
answer within --timeout, 2 usage, 3 no daemon.`,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"restart", "stop", "start", "reset"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait && args[0] == "stop" {
				return usageErr(fmt.Errorf("pbx stop: --wait waits for the PBX to answer, which a stop does not"))
			}
			return daemonAction(cmd.Context(), g, socket, timeout, func(ctx context.Context, c *control.Client) error {
				if !wait {
					return c.PBX(ctx, args[0])
				}
				before, err := c.Status(ctx)
				if err != nil {
					return err
				}
				if err := c.PBX(ctx, args[0]); err != nil {
					return err
				}
				st, err := c.WaitAnswering(ctx, before.Now, 100*time.Millisecond)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "pbx %s: answering after %s\n", args[0], st.Now.Sub(before.Now).Round(time.Millisecond))
				return nil
			}, "pbx "+args[0]+": done")
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "control socket (default: control.socket from the config)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the daemon to carry it out (and, with --wait, for the PBX to answer)")
	cmd.Flags().BoolVar(&wait, "wait", false, "return only once the PBX answers again (its critical probes pass)")
	return cmd
}

func newMaintenanceCmd(g *globals) *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "maintenance on|off",
		Short: "Freeze (on) or resume (off) every automatic action",
		Long: `Maintenance mode freezes every automatic action: while on, the PBX is not
restarted whatever the probes say. Probes keep running and status keeps
reporting; the role reads "maintenance". The mode survives a restart of pbxha
(the file <state_dir>/maintenance exists while it is on).

Exit codes: 0 done, 1 refused, 2 usage, 3 no daemon.`,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			on := args[0] == "on"
			return daemonAction(cmd.Context(), g, socket, 10*time.Second, func(ctx context.Context, c *control.Client) error {
				return c.Maintenance(ctx, on)
			}, "maintenance "+args[0])
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "control socket (default: control.socket from the config)")
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Stop the daemon for a restart that keeps its role",
		Long: `Ask the running daemon to stop for a restart that keeps its role, as for an
upgrade of pbxha: a primary leaves the VIP, the database and the PBX where they
are, tells its peer it is restarting (the peer holds off a takeover for
failover.restart_hold), and the next pbxha process resumes as primary. The
service manager starts the daemon again (the systemd unit's Restart=always);
"systemctl restart pbxha" does the same by itself, while "systemctl stop
pbxha" and a shutdown hand the service over.

Exit codes: 0 the daemon is stopping, 1 refused, 2 usage, 3 no daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemonAction(cmd.Context(), g, socket, 10*time.Second, func(ctx context.Context, c *control.Client) error {
				return c.Restart(ctx)
			}, "restart: the daemon is stopping; the role is kept")
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "control socket (default: control.socket from the config)")
	return cmd
}

// daemonAction runs one control API action and prints done on success.
func daemonAction(ctx context.Context, g *globals, socketFlag string, timeout time.Duration,
	act func(context.Context, *control.Client) error, done string) error {
	socket, err := controlSocket(g, socketFlag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = act(ctx, control.NewClient(socket))
	switch {
	case err == nil:
		fmt.Fprintln(g.stdout, done)
		return nil
	case errors.Is(err, control.ErrNoDaemon):
		return statusError(socket, err)
	}
	return &exitError{code: exitFailure, err: err}
}
