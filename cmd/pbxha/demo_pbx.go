package main

import (
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/sipcheck/siptest"
	"github.com/spf13/cobra"
)

// newDemoPBXCmd is the demo's test PBX as its own process, so that the demo
// can hang it with SIGSTOP like a real PBX, and run it inside a network
// namespace. Hidden: only the demo starts it.
func newDemoPBXCmd(g *globals) *cobra.Command {
	var listen []string
	cmd := &cobra.Command{
		Use:    "test-pbx --listen HOST:PORT...",
		Short:  "Serve SIP OPTIONS with the built-in test PBX (used by the demo)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(listen) == 0 {
				return usageErr(fmt.Errorf("--listen is required"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sipcheck.RouteLibraryLogs(slog.New(slog.DiscardHandler))
			var ready []string
			for _, l := range listen {
				host, portText, err := net.SplitHostPort(l)
				if err != nil {
					return usageErr(fmt.Errorf("--listen %q: %w", l, err))
				}
				port, err := strconv.Atoi(portText)
				if err != nil {
					return usageErr(fmt.Errorf("--listen %q: port: %w", l, err))
				}
				srv, err := siptest.Listen(siptest.Options{Host: host, Port: port, Transports: []string{"udp"}})
				if err != nil {
					return &exitError{code: exitFailure, err: fmt.Errorf("test-pbx: listen %s: %w", l, err)}
				}
				defer srv.Close()
				ready = append(ready, "udp="+srv.Addr())
			}
			fmt.Fprintln(g.stdout, "ready", strings.Join(ready, " "))
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "host:port to answer OPTIONS on over UDP (port 0: a free one); repeatable")
	return cmd
}
