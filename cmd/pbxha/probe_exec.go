package main

import (
	"os"
	"os/signal"
	"path/filepath"

	"github.com/pbxha/pbxha/probe"
	"github.com/spf13/cobra"
)

// newProbeExecCmd is `pbxha probe exec COMMAND [ARG...]`: run a Nagios-style
// plugin the way the exec probe does and print its verdict, first output line
// and performance data.
func newProbeExecCmd(g *globals) *cobra.Command {
	var o oneShotOpts
	var env []string
	cmd := &cobra.Command{
		Use:   "exec [flags] [--] COMMAND [ARG...]",
		Short: "Run a Nagios-style check plugin and show its verdict",
		Long: `Run COMMAND (no shell) in its own process group, as the exec probe does.
Exit 0 is ok, 1 degraded, 2 failed, 3 and anything else failed; the first line
of output is the detail and performance data after "|" is shown as values.
When --timeout passes first, the whole process group is killed.`,
		Example: `  pbxha probe exec /usr/lib/nagios/plugins/check_procs -c 1: -C asterisk
  pbxha probe exec -t 5s --env LANG=C -- /usr/local/bin/check_trunks --warn 2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			p, err := probe.NewExec(probe.ExecConfig{Command: args, Env: env})
			if err != nil {
				return usageErr(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return oneShot(ctx, g.stdout, filepath.Base(args[0]), p, o)
		},
	}
	// Flags end at COMMAND: its own options are not pbxha's.
	cmd.Flags().SetInterspersed(false)
	addOneShotFlags(cmd, &o)
	cmd.Flags().StringArrayVar(&env, "env", nil, "extra environment entry KEY=VALUE for the command (repeatable)")
	return cmd
}
