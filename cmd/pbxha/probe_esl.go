package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/esl"
	"github.com/spf13/cobra"
)

// newProbeESLCmd builds `pbxha probe esl [ADDRESS]`: FreeSWITCH readiness,
// sessions, sofia profiles and calls over the event socket, checked like ping.
func newProbeESLCmd(g *globals) *cobra.Command {
	var (
		o            oneShotOpts
		password     string
		passwordFile string
		profiles     []string
		calls        bool
		share        float64
		minIdle      float64
	)
	cmd := &cobra.Command{
		Use:   "esl [ADDRESS]",
		Short: "Check FreeSWITCH over its event socket: ready, sessions, sofia profiles, calls",
		Long: `Check a FreeSWITCH server the way the esl probe does: log in to the event
socket (ADDRESS, default ` + esl.DefaultAddress + `), run "status" and "sofia status"
and, with --calls, "show calls count", then print what was read.

A check fails when FreeSWITCH is not ready, a --profile is not RUNNING, or the
event socket does not answer within --timeout. It is degraded when sessions
exceed --max-sessions-share of max sessions, or idle CPU is below --min-idle-cpu.
The password defaults to FreeSWITCH's shipped "` + esl.DefaultPassword + `".`,
		Example: `  pbxha probe esl
  pbxha probe esl 10.0.0.2:8021 --password-file /etc/pbxha/esl.pw --profile internal --profile external --calls
  pbxha probe esl -n 10 -i 500ms --max-sessions-share 0.8 --min-idle-cpu 10`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr(fmt.Errorf("probe esl: want at most one ADDRESS argument, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			addr := esl.DefaultAddress
			if len(args) == 1 {
				addr = withDefaultPort(args[0], "8021")
			}
			pw, err := eslPassword(cmd, password, passwordFile)
			if err != nil {
				return usageErr(err)
			}
			bo := max(o.interval/2, time.Millisecond)
			p, err := esl.New(esl.Config{
				Address:          addr,
				Password:         pw,
				Profiles:         profiles,
				CountCalls:       calls,
				MaxSessionsShare: share,
				MinIdleCPU:       minIdle,
				// A one-shot run redials at every check rather than waiting
				// out the daemon's back-off; a rejected password is still
				// tried only once (esl.DefaultAuthBackoff).
				BackoffInitial: bo,
				BackoffMax:     bo,
				Timeout:        o.timeout,
			})
			if err != nil {
				return usageErr(err)
			}
			defer p.Close()
			err = oneShot(cmd.Context(), g.stdout, p.Target(), p, o)
			if _, sofia, ok := p.Last(); ok {
				printSofia(g, sofia)
			}
			return err
		},
	}
	addOneShotFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVarP(&password, "password", "p", "", "ESL password (default "+esl.DefaultPassword+")")
	f.StringVar(&passwordFile, "password-file", "", "read the ESL password from this file")
	f.StringArrayVar(&profiles, "profile", nil, "sofia profile that must be RUNNING (repeatable)")
	f.BoolVar(&calls, "calls", false, `also run "show calls count"`)
	f.Float64Var(&share, "max-sessions-share", 0, "degraded above this share (0..1] of max sessions; 0 disables")
	f.Float64Var(&minIdle, "min-idle-cpu", 0, "degraded below this idle CPU percentage; 0 disables")
	return cmd
}

// eslPassword picks the password from --password or --password-file.
func eslPassword(cmd *cobra.Command, password, file string) (string, error) {
	if cmd.Flags().Changed("password") && file != "" {
		return "", fmt.Errorf("probe esl: give --password or --password-file, not both")
	}
	pw, err := configs.ReadSecret(password, file)
	if err != nil {
		return "", fmt.Errorf("probe esl: password file: %w", err)
	}
	return pw, nil
}

// withDefaultPort adds port to an address given without one.
func withDefaultPort(addr, port string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), port)
}

// printSofia lists the profiles, aliases and gateways last read.
func printSofia(g *globals, s esl.SofiaStatus) {
	for _, p := range s.Profiles {
		fmt.Fprintf(g.stdout, "profile %s %s in_use=%d url=%s", p.Name, p.State, p.InUse, p.URL)
		if p.TLSURL != "" {
			fmt.Fprintf(g.stdout, " tls_url=%s", p.TLSURL)
		}
		fmt.Fprintln(g.stdout)
	}
	for _, a := range s.Aliases {
		fmt.Fprintf(g.stdout, "alias %s -> %s\n", a.Name, a.Profile)
	}
	for _, gw := range s.Gateways {
		fmt.Fprintf(g.stdout, "gateway %s %s to=%s", gw.Name, gw.State, gw.To)
		if gw.Detail != "" {
			fmt.Fprintf(g.stdout, " %s", gw.Detail)
		}
		fmt.Fprintln(g.stdout)
	}
}
