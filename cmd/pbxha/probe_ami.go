package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/configs"
	"github.com/spf13/cobra"
)

// amiSecretEnv names the environment variable `pbxha probe ami` reads the
// secret from when neither --secret-file nor --secret is given. It has no
// PBXHA_ prefix because `pbxha run` treats every PBXHA_ variable as a config
// override and refuses unknown ones.
const amiSecretEnv = "AMI_SECRET"

// newProbeAMICmd is `pbxha probe ami [HOST:PORT]`: log in to Asterisk's
// manager interface, then Ping and CoreStatus on each check over the same
// connection, printing version, uptime and calls.
func newProbeAMICmd(g *globals) *cobra.Command {
	var o oneShotOpts
	var cfg ami.Config
	var secretFile string
	cmd := &cobra.Command{
		Use:   "ami [HOST:PORT]",
		Short: "Log in to Asterisk's manager interface and check Ping and CoreStatus",
		Long: `Log in to the Asterisk Manager Interface (default ` + ami.DefaultAddress + `) and, on each
check, send Ping and CoreStatus over the same connection. Each line shows the
Asterisk and AMI versions, uptime and current calls; the values are calls,
uptime_seconds, since_reload_seconds and (Asterisk 22+) processed_calls.

The secret comes from --secret-file, else --secret, else $` + amiSecretEnv + `.
Asterisk answers a wrong secret only after one second, so use a --timeout above
1s to tell a rejected login from a silent server.`,
		Example: `  AMI_SECRET=s3cret pbxha probe ami -u pbxha
  pbxha probe ami -u pbxha --secret-file /etc/pbxha/ami.secret -n 5 -t 2s 127.0.0.1:5038`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if len(args) == 1 {
				cfg.Address = args[0]
			}
			switch {
			case secretFile != "":
				sec, err := configs.ReadSecret("", secretFile)
				if err != nil {
					return usageErr(fmt.Errorf("--secret-file: %w", err))
				}
				cfg.Secret = sec
			case !cmd.Flags().Changed("secret"):
				cfg.Secret = os.Getenv(amiSecretEnv)
			}
			p, err := ami.New(cfg)
			if err != nil {
				return usageErr(err)
			}
			defer p.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			target := cfg.Address
			if target == "" {
				target = ami.DefaultAddress
			}
			return oneShot(ctx, g.stdout, target, p, o)
		},
	}
	addOneShotFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVarP(&cfg.Username, "username", "u", "", "manager.conf user (required)")
	f.StringVar(&cfg.Secret, "secret", "", "its secret (visible in ps; prefer --secret-file or $"+amiSecretEnv+")")
	f.StringVar(&secretFile, "secret-file", "", "read the secret from this file (trailing newline dropped)")
	f.IntVar(&cfg.MaxCalls, "max-calls", 0, "degraded at or above this many current calls; 0 disables")
	return cmd
}
