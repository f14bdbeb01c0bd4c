package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
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

// answered reports whether a result came from an answer of the target, as
// opposed to a timeout or a network error.
func answered(r probe.Result) bool {
	switch r.Class {
	case probe.ClassTimeout, probe.ClassRefused, probe.ClassTransport, probe.ClassTLS, probe.ClassConfig:
		return false
	}
	return true
}

// formatResult renders one result as a ping-style line.
func formatResult(target string, seq int, r probe.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s seq=%d %s", target, seq, r.Status)
	if r.Detail != "" {
		fmt.Fprintf(&b, " %s", r.Detail)
	}
	if answered(r) {
		fmt.Fprintf(&b, " time=%s", fmtMillis(r.Latency))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Values)) {
		fmt.Fprintf(&b, " %s=%g", k, r.Values[k])
	}
	if r.Status != probe.OK && r.Err != nil {
		fmt.Fprintf(&b, " (%s: %v)", r.Class, r.Err)
	}
	return b.String()
}

func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// oneShot runs p o.count times, o.interval apart, printing one line per check
// and a summary. It returns nil when every check passed and an exit-1 error
// otherwise.
func oneShot(ctx context.Context, w io.Writer, target string, p probe.Probe, o oneShotOpts) error {
	var sent, ok, ans int
	var minRTT, maxRTT, sumRTT time.Duration
	for seq := 1; seq <= o.count; seq++ {
		if seq > 1 {
			select {
			case <-ctx.Done():
			case <-time.After(o.interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		r := p.Check(cctx)
		cancel()
		sent++
		fmt.Fprintln(w, formatResult(target, seq, r))
		if r.Status == probe.OK {
			ok++
		}
		if answered(r) {
			if ans == 0 || r.Latency < minRTT {
				minRTT = r.Latency
			}
			maxRTT = max(maxRTT, r.Latency)
			sumRTT += r.Latency
			ans++
		}
	}
	fmt.Fprintf(w, "--- %s ---\n", target)
	loss := 0.0
	if sent > 0 {
		loss = 100 * float64(sent-ans) / float64(sent)
	}
	fmt.Fprintf(w, "%d sent, %d answered, %d passed, %.0f%% loss", sent, ans, ok, loss)
	if ans > 0 {
		fmt.Fprintf(w, ", rtt min/avg/max = %.3f/%.3f/%.3f ms",
			ms(minRTT), ms(sumRTT/time.Duration(ans)), ms(maxRTT))
	}
	fmt.Fprintln(w)
	if sent == 0 || ok != sent {
		return &exitError{code: exitFailure}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
