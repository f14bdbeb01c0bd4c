package test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// rowsResult is the end-of-soak row check.
type rowsResult struct {
	acked, present int
	final          string // the final primary
}

// checkRows looks up every acknowledged row on the final primary — the one
// database out of recovery — and reports the missing ones as ranges, each
// with when it was acknowledged and the fault of that moment.
func (c *chaos) checkRows() {
	f := c.f
	acked, at := c.load.ackedWithTimes()
	var writable []*pairNode
	var states []string
	for _, n := range f.nodes {
		rec, _, err := f.dbState(n)
		states = append(states, fmt.Sprintf("%s in recovery %v (%v)", n.host.Name, rec, err))
		if err == nil && !rec {
			writable = append(writable, n)
		}
	}
	if len(writable) != 1 {
		c.violateAtEnd(fmt.Sprintf("%d acknowledged rows not checked: %d databases out of recovery at the end (%s)",
			len(acked), len(writable), strings.Join(states, ", ")))
		c.mu.Lock()
		c.rows = rowsResult{acked: len(acked), present: -1}
		c.mu.Unlock()
		return
	}
	final := writable[0]
	missing := f.missing(final, acked)
	c.mu.Lock()
	c.rows = rowsResult{acked: len(acked), present: len(acked) - len(missing), final: final.host.Name}
	c.mu.Unlock()
	if len(missing) == 0 {
		return
	}
	gone := map[int32]bool{}
	for _, id := range missing {
		gone[id] = true
	}
	// Ranges of consecutive acknowledged ids that are missing.
	var ranges []string
	for i := 0; i < len(acked) && len(ranges) < 20; {
		if !gone[acked[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(acked) && gone[acked[j+1]] {
			j++
		}
		if i == j {
			ranges = append(ranges, fmt.Sprintf("id %d (acknowledged %s, %s)", acked[i], c.at(at[i]), c.faultAt(at[i])))
		} else {
			ranges = append(ranges, fmt.Sprintf("ids %d-%d (%d rows, acknowledged %s to %s, %s)",
				acked[i], acked[j], j-i+1, c.at(at[i]), c.at(at[j]), c.faultAt(at[i])))
		}
		i = j + 1
	}
	c.violateAtEnd(fmt.Sprintf("%d of %d acknowledged rows missing on the final primary %s: %s",
		len(missing), len(acked), final.host.Name, strings.Join(ranges, "; ")))
}

// violateAtEnd records a rows violation, found at the end of the soak,
// with both nodes' status then.
func (c *chaos) violateAtEnd(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.violateLocked("rows", what, "", time.Now())
	v.fault, v.phase, v.oneOff = nil, "the end of the soak", true
}

// faultAt says which fault was on at t: "during #3 all-paths-cut",
// "after #3 all-paths-cut (healed +41.20s)", or "before the first fault".
func (c *chaos) faultAt(t time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last *fault
	for _, fl := range c.faults {
		if !fl.applied.After(t) {
			last = fl
		}
	}
	switch {
	case last == nil:
		return "before the first fault"
	case last.healed.IsZero() || t.Before(last.healed):
		return fmt.Sprintf("during #%d %s", last.n, last.kind)
	default:
		return fmt.Sprintf("after #%d %s (healed %s)", last.n, last.kind, c.at(last.healed))
	}
}

// report logs the summary table, every fault, every violation with both
// nodes' status and their logs around it, and the notes; it fails the test
// when there was any violation.
func (c *chaos) report() {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := time.Now()
	type row struct {
		faults, failovers, violations int
		sip, write                    time.Duration
	}
	var rows [numFaultKinds]row
	failovers := 0
	var faultLines []string
	for i, fl := range c.faults {
		until := end
		if i+1 < len(c.faults) {
			until = c.faults[i+1].applied
		}
		var tos []string
		for _, to := range c.takeovers {
			if !to.at.Before(fl.applied) && to.at.Before(until) {
				tos = append(tos, fmt.Sprintf("%s at %s (epoch %d, from %s: %s)", to.node, c.at(to.at), to.epoch, to.from, to.reason))
			}
		}
		gapEnd := fl.back
		if gapEnd.IsZero() {
			gapEnd = until
		}
		sip, write := c.load.sip.longest(fl.applied, gapEnd), c.load.write.longest(fl.applied, gapEnd)
		r := &rows[fl.kind]
		r.faults++
		r.failovers += len(tos)
		r.sip, r.write = max(r.sip, sip), max(r.write, write)
		failovers += len(tos)
		back := "not back"
		if !fl.back.IsZero() {
			back = "back " + fl.back.Sub(fl.healed).Round(10*time.Millisecond).String() + " after the heal"
		}
		whole := "not whole again"
		if !fl.whole.IsZero() {
			whole = "whole again after " + fl.whole.Sub(fl.healed).Round(100*time.Millisecond).String()
		}
		line := fmt.Sprintf("#%d %s %s: %s; held %s; %s, %s; longest gap SIP %s, write %s; paths before the heal: %s",
			fl.n, c.at(fl.applied), fl.kind, fl.detail, fl.hold, back, whole, msText(sip), msText(write), fl.paths)
		if fl.heal != "" {
			line += "; database " + fl.heal
		}
		if len(tos) > 0 {
			line += "; became primary: " + strings.Join(tos, ", ")
		}
		faultLines = append(faultLines, line)
	}
	checks := map[string]int{}
	for _, v := range c.violations {
		checks[v.check]++
		if v.fault != nil && v.check != "rows" {
			rows[v.fault.kind].violations++
		}
	}

	var b strings.Builder
	mode := "short run"
	if c.cfg.long {
		mode = c.cfg.duration.String() + " run"
	}
	present := fmt.Sprint(c.rows.present)
	if c.rows.present < 0 {
		present = "not checked"
	}
	fmt.Fprintf(&b, "chaos soak: seed %d, %s, %d faults in %s, %d checks (every %s)\n",
		c.cfg.seed, mode, len(c.faults), end.Sub(c.start).Round(time.Second), c.checks, checkEvery)
	fmt.Fprintf(&b, "failovers %d (under 20 %% heartbeat loss alone: %d); rows acknowledged %d, present on the final primary %s: %s; violations %d (vip %d, pg %d, service %d, rows %d, loss %d, rejoin %d)\n",
		failovers, checks["loss"], c.rows.acked, c.rows.final, present, len(c.violations),
		checks["vip"], checks["pg"], checks["service"], checks["rows"], checks["loss"], checks["rejoin"])
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tapplied\tfailovers\tlongest SIP gap\tlongest write gap\tviolations")
	for k := range numFaultKinds {
		r := rows[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\n", k, r.faults, r.failovers, msText(r.sip), msText(r.write), r.violations)
	}
	tw.Flush()
	b.WriteString("faults:\n")
	for _, l := range faultLines {
		b.WriteString("  " + l + "\n")
	}
	if len(c.violations) > 0 {
		b.WriteString("violations:\n")
	}
	for i, v := range c.violations {
		b.WriteString(c.describe(v, i < 8))
	}
	for _, n := range c.notes {
		b.WriteString("note: " + n + "\n")
	}
	if len(c.harnessErrs) > 0 {
		fmt.Fprintf(&b, "harness: %d read errors, first: %s\n", len(c.harnessErrs), c.harnessErrs[0])
	}
	c.t.Log("\n" + b.String())
	_ = os.WriteFile(filepath.Join(c.dir, "summary.txt"), []byte(b.String()), 0o644)
	if len(c.violations) > 0 {
		c.t.Errorf("chaos: %d violations (vip %d, pg %d, service %d, rows %d, loss %d, rejoin %d) with seed %d; see the report above",
			len(c.violations), checks["vip"], checks["pg"], checks["service"], checks["rows"], checks["loss"], checks["rejoin"], c.cfg.seed)
	}
}

// describe renders one violation: the check, when and how long, the fault
// of the moment, what the check read, both nodes' status and, with logs,
// both nodes' decisions (as the status polls saw them) in the three seconds
// before it and their pbxha logs in the two seconds before. c.mu is held.
func (c *chaos) describe(v *violation, logs bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  V%d [%s] %s at %s (%s)", v.n, v.check, v.what, c.at(v.start), v.start.Format("15:04:05.000"))
	if !v.oneOff {
		if v.end.IsZero() {
			fmt.Fprintf(&b, ", still on at the end (%d checks)", v.ticks)
		} else {
			fmt.Fprintf(&b, ", lasted %s (%d checks)", v.end.Sub(v.start).Round(time.Millisecond), v.ticks)
		}
	}
	b.WriteString("\n")
	if fl := v.fault; fl != nil {
		fmt.Fprintf(&b, "     fault #%d %s (%s), applied %s, healed %s; phase %s\n", fl.n, fl.kind, fl.detail, c.at(fl.applied), c.at(fl.healed), v.phase)
	} else {
		fmt.Fprintf(&b, "     %s\n", v.phase)
	}
	if v.reads != "" {
		fmt.Fprintf(&b, "     read: %s\n", v.reads)
	}
	for _, s := range v.state {
		if s != "" {
			fmt.Fprintf(&b, "     %s\n", s)
		}
	}
	if v.saved != "" {
		fmt.Fprintf(&b, "     status documents: %s\n", v.saved)
	}
	if logs && !v.oneOff {
		for k, n := range c.f.nodes {
			for _, d := range c.decisions[k] {
				if d.at.After(v.start.Add(-3*time.Second)) && d.at.Before(v.start.Add(500*time.Millisecond)) {
					acting := ""
					if d.acting != "" {
						acting = ", acting " + d.acting
					}
					fmt.Fprintf(&b, "     %s decided by %s: %s%s: %s\n", n.host.Name, c.at(d.at), d.role, acting, d.reason)
				}
			}
		}
		for _, n := range c.f.nodes {
			for _, l := range logExcerpt(n.log, v.start.Add(-2*time.Second), v.start.Add(200*time.Millisecond), 15) {
				fmt.Fprintf(&b, "     %s| %s\n", n.host.Name, l)
			}
		}
	}
	return b.String()
}

// logExcerpt returns the last max lines of a pbxha log (slog text, time=
// first) stamped from from to to.
func logExcerpt(path string, from, to time.Time, max int) []string {
	fh, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		stamp, _, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if !ok || !strings.HasPrefix(line, "time=") {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil || at.Before(from) || at.After(to) {
			continue
		}
		out = append(out, line)
		if len(out) > max {
			out = out[1:]
		}
	}
	return out
}

// keepLogs copies both nodes' pbxha and database logs into c.dir.
func (c *chaos) keepLogs() {
	if c.f == nil {
		return
	}
	for _, n := range c.f.nodes {
		copyFile(n.log, filepath.Join(c.dir, n.host.Name+"-pbxha.log"))
		db := c.f.db[n]
		_ = os.WriteFile(filepath.Join(c.dir, n.host.Name+"-postgres.log"), []byte(db.Log()), 0o644)
		copyFile(db.DataDir+".demote.log", filepath.Join(c.dir, n.host.Name+"-pg-demote.log"))
		copyFile(db.DataDir+".pbxha.log", filepath.Join(c.dir, n.host.Name+"-postgres-restarted.log"))
	}
}

func copyFile(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		_ = os.WriteFile(to, b, 0o644)
	}
}

// msText renders a duration in milliseconds, "-" for none.
func msText(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
