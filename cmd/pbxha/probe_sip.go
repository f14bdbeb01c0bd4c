package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/pbxha/pbxha/sipcheck"
	"github.com/spf13/cobra"
)

// newProbeSIPCmd is `pbxha probe sip URI`: OPTIONS pings like sipsak, one
// line per check and a ping-style summary.
func newProbeSIPCmd(g *globals) *cobra.Command {
	var (
		o   oneShotOpts
		cfg sipcheck.Config
	)
	cmd := &cobra.Command{
		Use:   "sip URI",
		Short: "Send SIP OPTIONS to a URI and report code, reason and round-trip time",
		Long: `Send SIP OPTIONS to URI (sip:host[:port][;transport=udp|tcp|tls] or sips:host[:port])
and print one line per reply, then a summary. Exit 0 when every check passed,
1 otherwise, 2 on usage errors.

Codes for --accept and --degraded are lists of codes, classes and ranges:
"200", "2xx,401,403,404", "500-599"; "none" for no code.`,
		Example: `  pbxha probe sip sip:127.0.0.1:5060
  pbxha probe sip 'sip:10.0.0.5;transport=tcp' -n 5 --accept 2xx,401,403,404 --fresh-connection
  pbxha probe sip sips:pbx.example.net --tls-ca /etc/pbxha/ca.pem`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(fmt.Errorf("probe sip: want exactly one URI, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			cfg.Target = args[0]
			logger := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			sipcheck.RouteLibraryLogs(logger)
			p, err := sipcheck.New(cfg, logger.With("probe", "sip", "target", cfg.Target))
			if err != nil {
				return usageErr(err)
			}
			defer p.Close()
			// Ctrl-C ends the run early and still prints the summary, like ping.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return oneShot(ctx, g.stdout, cfg.Target, p, o)
		},
	}
	addOneShotFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVar(&cfg.Accept, "accept", sipcheck.DefaultAccept, "reply codes that pass")
	f.StringVar(&cfg.Degraded, "degraded", sipcheck.DefaultDegraded, "reply codes that mean degraded")
	f.StringVar(&cfg.FromUser, "from-user", sipcheck.DefaultFromUser, "user part of the From header")
	f.StringVar(&cfg.UserAgent, "user-agent", sipcheck.DefaultUserAgent, "User-Agent header")
	f.StringVar(&cfg.LocalHost, "local-host", "", "host in Via and From (default: the local address toward the target)")
	f.BoolVar(&cfg.FreshConnection, "fresh-connection", false, "TCP/TLS: open a new connection for every check")
	f.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "PEM file of CAs to verify the server with (default: system roots)")
	f.StringVar(&cfg.TLS.ServerName, "tls-server-name", "", "name to verify in the server certificate (default: the URI host)")
	f.BoolVar(&cfg.TLS.Insecure, "tls-insecure", false, "do not verify the server certificate")
	return cmd
}
