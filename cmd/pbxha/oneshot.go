package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pbxha/pbxha/probe"
	"github.com/spf13/cobra"
)

// oneShotOpts are the flags shared by every `pbxha probe KIND` diagnostic.
type oneShotOpts struct {
	count    int
	interval time.Duration
	timeout  time.Duration
}

func addOneShotFlags(cmd *cobra.Command, o *oneShotOpts) {
	cmd.Flags().IntVarP(&o.count, "count", "n", 1, "number of checks to run")
	cmd.Flags().DurationVarP(&o.interval, "interval", "i", time.Second, "time between checks")
	cmd.Flags().DurationVarP(&o.timeout, "timeout", "t", time.Second, "deadline of each check")
}

func (o oneShotOpts) validate() error {
	switch {
	case o.count < 1:
		return usageErr(fmt.Errorf("--count must be at least 1, got %d", o.count))
	case o.timeout <= 0:
		return usageErr(fmt.Errorf("--timeout must be positive, got %s", o.timeout))
	case o.interval < 0:
		return usageErr(fmt.Errorf("--interval must not be negative, got %s", o.interval))
	}
	return nil
}

// oneShot runs p o.count times, o.interval apart, printing one line per
// check and a summary (probe.Ping). It returns an exit-1 error unless every
// check passed.
func oneShot(ctx context.Context, w io.Writer, target string, p probe.Probe, o oneShotOpts) error {
	if !probe.Ping(ctx, w, target, p, o.count, o.interval, o.timeout) {
		return &exitError{code: exitFailure}
	}
	return nil
}
