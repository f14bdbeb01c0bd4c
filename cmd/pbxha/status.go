package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/spf13/cobra"
)

type statusOpts struct {
	socket   string
	json     bool
	watch    bool
	interval time.Duration
}

func newStatusCmd(g *globals) *cobra.Command {
	var o statusOpts
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon's role, health and probes",
		Long: `Show the running daemon's role, health and probes, read from its control socket.

Exit codes: 0 the daemon answered, 2 usage or config error, 3 no daemon answered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.interval <= 0 {
				return usageErr(fmt.Errorf("--interval must be positive, got %s", o.interval))
			}
			socket, err := controlSocket(g, o.socket)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runStatus(ctx, g.stdout, control.NewClient(socket), socket, o)
		},
	}
	cmd.Flags().StringVar(&o.socket, "socket", "", "control socket (default: control.socket from the config)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the status document as JSON (schema in README)")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Second, "refresh interval with --watch")
	return cmd
}

// controlSocket returns the socket path: the flag when given, else the config's.
func controlSocket(g *globals, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return "", err
	}
	return cfg.Control.Socket, nil
}

func runStatus(ctx context.Context, w io.Writer, c *control.Client, socket string, o statusOpts) error {
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(qctx)
		cancel()
		if o.watch {
			fmt.Fprint(w, "\033[H\033[2J") // home and clear, like watch(1)
		}
		switch {
		case err != nil && !o.watch:
			return statusError(socket, err)
		case err != nil:
			fmt.Fprintln(w, statusError(socket, err).Error())
		case o.json:
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return err
			}
		default:
			writeStatusTable(w, st)
		}
		if !o.watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

func statusError(socket string, err error) error {
	if errors.Is(err, control.ErrNoDaemon) {
		return &exitError{code: exitNoDaemon, err: fmt.Errorf(
			"no pbxha daemon answering on %s: start one with `pbxha run`, or point -c/--socket at the running one", socket)}
	}
	return &exitError{code: exitNoDaemon, err: err}
}

// writeStatusTable prints the status for people. Durations are relative to the
// daemon's clock, so they are right even when this host's clock is not.
func writeStatusTable(w io.Writer, st control.Status) {
	fmt.Fprintf(w, "node %s  cluster %s  mode %s  role %s  health %s\n", st.Node, st.Cluster, st.Mode, st.Role, st.Health)
	fmt.Fprintf(w, "pid %d  up %s  version %s  config %s\n", st.PID, age(st.Now.Sub(st.StartedAt)), st.Version, st.Config.Source)
	if pr := st.Pair; pr != nil {
		writePair(w, st.Now, pr)
	}
	if p := st.PBX; p != nil {
		fmt.Fprintf(w, "pbx %s  %s", p.Mode, p.State)
		if p.PID != 0 {
			fmt.Fprintf(w, "  pid %d", p.PID)
		}
		if p.StartedAt != nil && p.State == "running" {
			fmt.Fprintf(w, "  up %s", age(st.Now.Sub(*p.StartedAt)))
		}
		fmt.Fprintf(w, "  restarts %d/%d in %s", p.RestartsInWindow, p.MaxRestarts, p.Window)
		if p.LastExit != "" {
			fmt.Fprintf(w, "  last exit %s", p.LastExit)
		}
		if p.FaultReason != "" {
			fmt.Fprintf(w, "  fault: %s", p.FaultReason)
		}
		if p.NextRestart != nil {
			fmt.Fprintf(w, "  next restart in %s", age(p.NextRestart.Sub(st.Now)))
		}
		fmt.Fprintln(w)
	}
	if a := st.Alerts; a != nil {
		fmt.Fprintf(w, "alerts  outbox %d", a.Outbox)
		for _, e := range a.Endpoints {
			fmt.Fprintf(w, "  %s: %d delivered", e.Name, e.Delivered)
			if e.LastSuccess != nil {
				fmt.Fprintf(w, ", last ok %s ago", age(st.Now.Sub(*e.LastSuccess)))
			}
			if e.LastError != "" && (e.LastSuccess == nil || e.LastErrorAt.After(*e.LastSuccess)) {
				fmt.Fprintf(w, ", last error %s ago: %s", age(st.Now.Sub(*e.LastErrorAt)), firstLine(e.LastError))
			}
		}
		fmt.Fprintln(w)
	}
	if st.Maintenance {
		fmt.Fprintln(w, "maintenance mode: automatic action is frozen (pbxha maintenance off resumes it)")
	}
	if st.Config.LastReloadError != "" {
		fmt.Fprintf(w, "last reload refused: %s\n", firstLine(st.Config.LastReloadError))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBE\tKIND\tCRITICAL\tSTATE\tCODE\tRTT\tFAILS\tSINCE\tDETAIL")
	for _, p := range st.Probes {
		code, rtt, detail := "-", "-", ""
		if l := p.Last; l != nil {
			if l.Code != 0 {
				code = fmt.Sprint(l.Code)
			}
			rtt = fmt.Sprintf("%.1fms", l.LatencyMS)
			detail = l.Detail
			if l.Error != "" && l.Status != "ok" {
				detail = strings.TrimSpace(detail + " " + l.Class + ": " + l.Error)
			}
		}
		crit := "no"
		if p.Critical {
			crit = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			p.Name, p.Kind, crit, p.State, code, rtt, p.ConsecutiveFailures, age(st.Now.Sub(p.Since)), firstLine(detail))
	}
	tw.Flush()
}

// age renders a duration to the second, or to the millisecond below a second.
func age(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// writePair prints the failover state: epoch, VIP, the peer, each heartbeat
// path, the last decision and the recent role changes.
func writePair(w io.Writer, now time.Time, pr *control.Pair) {
	fmt.Fprintf(w, "epoch %d", pr.Epoch)
	if pr.VIP != "" {
		fmt.Fprintf(w, "  vip %s", pr.VIP)
	}
	fmt.Fprintln(w)
	p := pr.Peer
	switch {
	case p.LastHeard == nil:
		fmt.Fprintln(w, "peer never heard")
	default:
		state := "dead"
		if p.Alive {
			state = "alive"
		}
		fmt.Fprintf(w, "peer %s %s  role %s  health %s  epoch %d  heard %s ago", p.Node, state, p.Role, p.Health, p.Epoch, age(now.Sub(*p.LastHeard)))
		if p.WAL != "" {
			fmt.Fprintf(w, "  wal %s  lag %d B", p.WAL, p.LagBytes)
		}
		fmt.Fprintln(w)
	}
	for _, path := range p.Paths {
		state, heard := "down", "never heard"
		if path.Alive {
			state = "up"
		}
		if path.LastHeard != nil {
			heard = "heard " + age(now.Sub(*path.LastHeard)) + " ago"
		}
		fmt.Fprintf(w, "  path %s -> %s  %s  %s\n", path.Local, path.Peer, state, heard)
	}
	fmt.Fprintf(w, "decision: %s\n", pr.Reason)
	if pr.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", firstLine(pr.LastError))
	}
	h := pr.RoleHistory
	for _, c := range h[max(0, len(h)-3):] {
		fmt.Fprintf(w, "  %s ago  %s -> %s  epoch %d  %s\n", age(now.Sub(c.At)), c.From, c.To, c.Epoch, c.Reason)
	}
}
