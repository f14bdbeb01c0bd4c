package probe

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// answered reports whether a result came from an answer of the target, as
// opposed to a timeout or a network error.
func answered(r Result) bool {
	switch r.Class {
	case ClassTimeout, ClassRefused, ClassTransport, ClassTLS, ClassConfig:
		return false
	}
	return true
}

// formatResult renders one result as a ping-style line.
func formatResult(target string, seq int, r Result) string {
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
	if r.Status != OK && r.Err != nil {
		fmt.Fprintf(&b, " (%s: %v)", r.Class, r.Err)
	}
	return b.String()
}

// fmtMillis renders d as milliseconds with three decimals.
func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// Ping runs p count times, interval apart, each check bounded by timeout,
// printing one ping-style line per check and a summary with the loss and the
// round trips, as the `pbxha probe KIND` diagnostics show them. It reports
// whether every check passed.
func Ping(ctx context.Context, w io.Writer, target string, p Probe, count int, interval, timeout time.Duration) bool {
	var sent, ok, ans int
	var minRTT, maxRTT, sumRTT time.Duration
	for seq := 1; seq <= count; seq++ {
		if seq > 1 {
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		r := p.Check(cctx)
		cancel()
		sent++
		fmt.Fprintln(w, formatResult(target, seq, r))
		if r.Status == OK {
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
	return sent > 0 && ok == sent
}

// ms returns d in milliseconds, with fractions.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
