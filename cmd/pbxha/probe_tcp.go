package main

import (
	"os"
	"os/signal"

	"github.com/pbxha/pbxha/probe"
	"github.com/spf13/cobra"
)

// newProbeTCPCmd is `pbxha probe tcp HOST:PORT`: connect and close, like
// ping, printing the connect time.
func newProbeTCPCmd(g *globals) *cobra.Command {
	var o oneShotOpts
	cmd := &cobra.Command{
		Use:   "tcp HOST:PORT",
		Short: "Connect to a TCP port and close, like ping",
		Example: `  pbxha probe tcp 127.0.0.1:5060
  pbxha probe tcp -n 5 -i 200ms -t 500ms 10.0.0.2:5432`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			p, err := probe.NewTCP(probe.TCPConfig{Address: args[0]})
			if err != nil {
				return usageErr(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return oneShot(ctx, g.stdout, args[0], p, o)
		},
	}
	addOneShotFlags(cmd, &o)
	return cmd
}
