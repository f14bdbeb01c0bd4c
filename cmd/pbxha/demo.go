package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/demo"
	"github.com/spf13/cobra"
)

// newDemoCmd is `pbxha demo`: it checks the flags and runs the story of
// package demo, which holds everything else about the demo.
func newDemoCmd(g *globals) *cobra.Command {
	var (
		duration time.Duration
		single   bool
		verbose  bool
		mode     string
	)
	cmd := &cobra.Command{
		Use:   "demo [--duration D] [--mode auto|netns|loopback] [--single] [-v]",
		Short: "Watch a two-node pair fail over from a hung PBX and switch back, in about 7 seconds",
		Long: `Run two pbxha nodes (node-a, node-b) on the embedded default config, each
beside a built-in test PBX, and a client that sends SIP OPTIONS to the
service address every 50 ms. The primary's PBX hangs (SIGSTOP: the process
lives, SIP goes silent); the standby takes over; the demo prints the
failover timeline from the new primary's failover event and the outage the
client saw. The old PBX recovers and stays standby (failback is off), then a
planned switchover moves the service back, with its own timeline.

As root (--mode auto or netns), the pair runs in network namespaces built
for the demo on 198.18.0.0/24 with a real VIP, 198.18.0.100, moved with
netlink and gratuitous ARP; the namespaces are deleted at the end. Otherwise
(--mode loopback) both nodes run on loopback, 127.0.0.1 and 127.0.0.2, and
the VIP is simulated by vip.mode script: a marker file the holder creates.

--single runs the older one-node demo instead: one sidecar watching a test
PBX that hangs and recovers, for --duration.

Everything lives in a temporary directory and is removed at the end, also
on Ctrl-C. Exit codes: 0 the story completed, 1 it did not within
--duration, 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration < 10*time.Second {
				return usageErr(fmt.Errorf("--duration must be at least 10s, got %s", duration))
			}
			switch mode {
			case demo.ModeAuto, demo.ModeNetns, demo.ModeLoopback:
			default:
				return usageErr(fmt.Errorf("--mode %q: want auto, netns or loopback", mode))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if single {
				if !cmd.Flags().Changed("duration") {
					duration = 20 * time.Second
				}
				return demoErr(demo.RunSingle(ctx, g.stdout, demo.SingleOptions{
					Duration: duration,
					RunDaemon: func(ctx context.Context, w io.Writer, cfg *configs.Config) error {
						return runDaemon(ctx, &globals{stdout: w, stderr: w}, cfg)
					},
					WriteStatus: control.WriteText,
				}))
			}
			return demoErr(demo.RunPair(ctx, g.stdout, demo.PairOptions{Mode: mode, Bound: duration, Verbose: verbose}))
		},
	}
	f := cmd.Flags()
	f.DurationVar(&duration, "duration", 40*time.Second, "give up if the story has not finished by then (--single: how long it runs, default 20s)")
	f.StringVar(&mode, "mode", demo.ModeAuto, "auto (netns as root, else loopback), netns or loopback")
	f.BoolVar(&single, "single", false, "the one-node demo: a sidecar detecting a hung PBX and its recovery")
	f.BoolVarP(&verbose, "verbose", "v", false, "show every log line of the sidecars, not only the story's")
	cmd.AddCommand(newDemoPBXCmd(g))
	return cmd
}

// demoErr gives a demo's error exit 1, unless it already carries its code
// (the single demo's daemon refusing its config).
func demoErr(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &exitError{code: exitFailure, err: err}
}

// newDemoPBXCmd is the demo's test PBX as its own process (see
// demo.ServeTestPBX). Hidden: only the demo starts it.
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
			var addrs []demo.HostPort
			for _, l := range listen {
				host, portText, err := net.SplitHostPort(l)
				if err != nil {
					return usageErr(fmt.Errorf("--listen %q: %w", l, err))
				}
				port, err := strconv.Atoi(portText)
				if err != nil {
					return usageErr(fmt.Errorf("--listen %q: port: %w", l, err))
				}
				addrs = append(addrs, demo.HostPort{Host: host, Port: port})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return demoErr(demo.ServeTestPBX(ctx, g.stdout, addrs))
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "host:port to answer OPTIONS on over UDP (port 0: a free one); repeatable")
	return cmd
}
