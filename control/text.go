package control

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the status for people, as `pbxha status` shows it.
// Durations are relative to the daemon's clock (Status.Now), so they are
// right even when the reader's clock is not.
func WriteText(w io.Writer, st Status) {
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
			// "exit status 1" reads "last exit status 1", "signal KILL"
			// "last exit signal KILL".
			fmt.Fprintf(w, "  last exit %s", strings.TrimPrefix(p.LastExit, "exit "))
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
			if e.MemoryOnly > 0 {
				fmt.Fprintf(w, ", %d of %d queued in memory only (the outbox cannot write them; lost at a stop)", e.MemoryOnly, e.Queued)
			}
			if e.LastSuccess != nil {
				fmt.Fprintf(w, ", last ok %s ago", age(st.Now.Sub(*e.LastSuccess)))
			}
			if e.LastError != "" && (e.LastSuccess == nil || e.LastErrorAt.After(*e.LastSuccess)) {
				fmt.Fprintf(w, ", last error %s ago: %s", age(st.Now.Sub(*e.LastErrorAt)), firstLine(e.LastError))
			}
		}
		fmt.Fprintln(w)
	}
	if sy := st.Sync; sy != nil {
		writeSync(w, st.Now, sy)
	}
	if rb := st.Rebuild; rb != nil {
		writeRebuild(w, st.Now, rb)
	}
	if st.Maintenance {
		fmt.Fprintln(w, "maintenance mode: automatic action is frozen (pbxha maintenance off resumes it)")
	}
	if len(st.Config.PendingRestart) > 0 {
		fmt.Fprintf(w, "pending restart: %s changed in the file; they take effect at the next start of pbxha\n",
			strings.Join(st.Config.PendingRestart, ", "))
	}
	if st.Config.LastReloadError != "" {
		fmt.Fprintln(w, "last reload refused; the running config stays:")
		for _, line := range strings.Split(strings.TrimSpace(st.Config.LastReloadError), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
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
			detail = failureDetail(*l)
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

// failureDetail is a result's detail, with its error when it failed: the
// error alone when it already says what the detail says (a refused
// connection is not told three times), else "detail: error".
func failureDetail(r Result) string {
	if r.Error == "" || r.Status == "ok" {
		return r.Detail
	}
	if r.Detail == "" || strings.Contains(r.Error, r.Detail) {
		return r.Error
	}
	return r.Detail + ": " + r.Error
}

// age renders a duration to the second, or to the millisecond below a second.
func age(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// writePair prints the failover state: epoch, VIP, the peer, each heartbeat
// path, the last decision and the recent role changes.
func writePair(w io.Writer, now time.Time, pr *Pair) {
	fmt.Fprintf(w, "epoch %d", pr.Epoch)
	if pr.VIP != "" {
		fmt.Fprintf(w, "  vip %s", pr.VIP)
	}
	fmt.Fprintln(w)
	writeNodes(w, now, pr.Nodes)
	if e := pr.Etcd; e != nil {
		writeEtcd(w, now, e)
	}
	p := pr.Peer
	for _, path := range p.Paths {
		state, heard := "down", "never heard"
		if path.Alive {
			state = "up"
		}
		if path.LastHeard != nil {
			heard = "heard " + age(now.Sub(*path.LastHeard)) + " ago"
		}
		fmt.Fprintf(w, "  path %s -> %s  %s  %s  accepted %d", path.Local, path.Peer, state, heard, path.Accepted)
		if len(path.Drops) > 0 {
			fmt.Fprintf(w, "  dropped %s", dropsText(path.Drops))
		}
		fmt.Fprintln(w)
	}
	if pr.ClockOffsetMS != 0 {
		fmt.Fprintf(w, "peer clock offset %+.0fms\n", pr.ClockOffsetMS)
	}
	if pr.Unprotected != "" {
		fmt.Fprintf(w, "unprotected: %s\n", pr.Unprotected)
	}
	if pr.StateDirError != "" && pr.StateDirSince != nil {
		fmt.Fprintf(w, "STATE DIR UNWRITABLE for %s: a takeover cannot persist its epoch: %s\n", age(now.Sub(*pr.StateDirSince)), firstLine(pr.StateDirError))
	}
	fmt.Fprintf(w, "decision: %s\n", pr.Reason)
	if pr.Acting != "" && pr.ActingSince != nil {
		fmt.Fprintf(w, "acting: %s for %s\n", pr.Acting, age(now.Sub(*pr.ActingSince)))
	}
	if pr.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", firstLine(pr.LastError))
	}
	h := pr.RoleHistory
	for _, c := range h[max(0, len(h)-3):] {
		fmt.Fprintf(w, "  %s ago  %s -> %s  epoch %d  %s\n", age(now.Sub(c.At)), c.From, c.To, c.Epoch, c.Reason)
	}
}

// writeEtcd prints the etcd coordination: the leader, the lease, the
// request in force.
func writeEtcd(w io.Writer, now time.Time, e *Etcd) {
	fmt.Fprintf(w, "etcd %s  leader %s  lease ttl %s", strings.Join(e.Endpoints, ","), orDash(e.Leader), time.Duration(e.LeaseTTLMS)*time.Millisecond)
	if e.RenewedAt != nil {
		fmt.Fprintf(w, "  renewed %s ago", age(now.Sub(*e.RenewedAt)))
	}
	if e.SafeUntil != nil && e.SafeUntil.After(now) {
		fmt.Fprintf(w, "  safe for %s", age(e.SafeUntil.Sub(now)))
	}
	fmt.Fprintln(w)
	if e.Error != "" && e.ErrorSince != nil {
		fmt.Fprintf(w, "ETCD UNREACHABLE for %s: %s\n", age(now.Sub(*e.ErrorSince)), firstLine(e.Error))
	}
	if e.Switchover != "" {
		fmt.Fprintf(w, "switchover %s\n", e.Switchover)
	}
}

// writeSync prints file sync: the direction and one line per directory.
func writeSync(w io.Writer, now time.Time, sy *Sync) {
	fmt.Fprintf(w, "sync %s  peer %s  %s\n", sy.Direction, sy.Peer, sy.Reason)
	for _, d := range sy.Directories {
		fmt.Fprintf(w, "  %s  %s", d.Name, d.State)
		if d.LastSuccess != nil {
			fmt.Fprintf(w, "  synced %s ago (%d files, %s at %s/s)", age(now.Sub(*d.LastSuccess)), d.LastFiles,
				bytesText(float64(d.LastBytes)), bytesText(d.RateBps))
		} else {
			fmt.Fprint(w, "  never synced")
		}
		if d.Lagging {
			fmt.Fprint(w, "  LAGGING")
		}
		if d.LastError != "" && d.State != "ok" {
			fmt.Fprintf(w, "  last error: %s", firstLine(d.LastError))
		}
		fmt.Fprintln(w)
	}
}

// writeRebuild prints the standby rebuild.
func writeRebuild(w io.Writer, now time.Time, rb *Rebuild) {
	fmt.Fprintf(w, "standby rebuild %s from %s (%s)", rb.State, rb.From, rb.Reason)
	switch rb.State {
	case "running":
		fmt.Fprintf(w, "  %s  %.0f%%  %s of %s at %s/s", rb.Phase, rb.Percent, bytesText(float64(rb.DoneBytes)),
			bytesText(float64(rb.TotalBytes)), bytesText(rb.RateBps))
		if rb.ETASeconds > 0 {
			fmt.Fprintf(w, "  ETA %s", age(time.Duration(rb.ETASeconds*float64(time.Second))))
		}
	default:
		if rb.FinishedAt != nil {
			fmt.Fprintf(w, "  %s ago", age(now.Sub(*rb.FinishedAt)))
		}
		if rb.Error != "" {
			fmt.Fprintf(w, "  while %s: %s", rb.Phase, firstLine(rb.Error))
		}
	}
	fmt.Fprintln(w)
}

// bytesText renders a byte count with a binary unit: 512 B, 3.2 MiB.
func bytesText(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// dropsText renders drop counts as "bad_mac 3, replay 1", by reason.
func dropsText(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// writeNodes prints the cluster view: one row per node, this node marked
// with "*", like patronictl list.
func writeNodes(w io.Writer, now time.Time, nodes []ClusterNode) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tROLE\tHEALTH\tEPOCH\tDB\tLAG\tPBX\tPROBES\tHEARD")
	for _, n := range nodes {
		mark, heard := " ", "never"
		if n.Self {
			mark, heard = "*", "this node"
		} else if n.LastHeard != nil {
			heard = age(now.Sub(*n.LastHeard)) + " ago"
			if !n.Alive {
				heard += " (dead)"
			}
		}
		role := orDash(n.Role)
		if n.Maintenance {
			role += " (maintenance)"
		}
		lag := "-"
		switch {
		case n.LagBytes == nil:
		case strings.HasPrefix(n.WAL, "gtid "): // MariaDB/MySQL: transactions, not bytes
			lag = fmt.Sprintf("%d tx", *n.LagBytes)
		default:
			lag = fmt.Sprintf("%d B", *n.LagBytes)
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", mark, n.Node, role, orDash(n.Health), n.Epoch,
			orDash(n.DB), lag, orDash(n.PBX), orDash(n.Probes), heard)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
