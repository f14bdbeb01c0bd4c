package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/control"
	"github.com/vishvananda/netlink"
)

// The watcher's pace and bounds.
const (
	checkEvery = 50 * time.Millisecond  // the invariant checks
	pollEvery  = 200 * time.Millisecond // both nodes' status, for role changes and reports
	pgReadWait = 300 * time.Millisecond // one pg_is_in_recovery() read, connecting included
	// healGrace: after a fault that cut every path heals, how long two VIP
	// holders are still no violation — the nodes must first hear each
	// other (a heartbeat every 200 ms) and the lower epoch release.
	healGrace = 3 * time.Second
)

// nodeWatch reads one node's VIP and database role for the checks, from
// inside its namespace.
type nodeWatch struct {
	n  *pairNode
	nl *netlink.Handle // opened in the node's namespace
	pg *pgx.ConnConfig // the node's own server, dialled from its namespace
	db *pgx.Conn       // nil until connected, and after an error
}

func newNodeWatch(n *pairNode) (*nodeWatch, error) {
	w := &nodeWatch{n: n}
	if err := n.host.Do(func() (err error) { w.nl, err = netlink.NewHandle(); return err }); err != nil {
		return nil, fmt.Errorf("%s: netlink: %w", n.host.Name, err)
	}
	cfg, err := pgx.ParseConfig("postgres://postgres@" + net.JoinHostPort(n.host.IP.String(), "5432") + "/postgres?sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = n.host.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	w.pg = cfg
	return w, nil
}

var vipAddr = netip.MustParseAddr(pairVIP)

// holdsVIP reads the node's addresses (ip addr) for the VIP.
func (w *nodeWatch) holdsVIP() (bool, error) {
	addrs, err := w.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == vipAddr {
			return true, nil
		}
	}
	return false, nil
}

// writable reports whether the node's server is out of recovery, and what
// was seen: "primary", "standby", or "down (why)" — a stopped or
// unreachable server counts as in recovery.
func (w *nodeWatch) writable() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), pgReadWait)
	defer cancel()
	if w.db == nil {
		c, err := pgx.ConnectConfig(ctx, w.pg)
		if err != nil {
			return false, "down (" + shortErr(err) + ")"
		}
		w.db = c
	}
	var rec bool
	if err := w.db.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
		closeQuick(w.db)
		w.db = nil
		return false, "down (" + shortErr(err) + ")"
	}
	if rec {
		return false, "standby"
	}
	return true, "primary"
}

func (w *nodeWatch) close() {
	if w.db != nil {
		closeQuick(w.db)
	}
	w.nl.Close()
}

// shortErr keeps the last part of a long error chain.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 80 {
		s = s[i+2:]
	}
	return s
}

// check runs the invariant checks every checkEvery until ctx ends (bounded
// by limit): never two VIP holders while a heartbeat path works, never two
// databases out of recovery. Each read is n1, n2, n1 again, a few
// milliseconds apart: a correct handover between the reads (n1 let go
// before n2 took over) is not two holders, since n1 must still hold after.
func (c *chaos) check(ctx context.Context, limit time.Duration) {
	w := c.watch
	open := map[string]*violation{}
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for i := 0; i < int(limit/checkEvery); i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var vip [3]bool
		var vipErr error
		for j, k := range []int{0, 1, 0} {
			var err error
			if vip[j], err = w[k].holdsVIP(); err != nil {
				vipErr = err
			}
		}
		var pg [3]bool
		var pgSeen [3]string
		for j, k := range []int{0, 1, 0} {
			pg[j], pgSeen[j] = w[k].writable()
		}
		c.mu.Lock()
		c.checks++
		if vipErr != nil {
			c.harnessErrs = append(c.harnessErrs, fmt.Sprintf("%s: reading the VIP: %v", c.at(now), vipErr))
		}
		pathsWork := c.pathsWorkLocked(now)
		c.episode(open, "vip", pathsWork && vip[0] && vip[1] && vip[2], now,
			"two VIP holders while a heartbeat path works",
			fmt.Sprintf("VIP on n1 %v, n2 %v, n1 %v", vip[0], vip[1], vip[2]))
		c.episode(open, "pg", pg[0] && pg[1] && pg[2], now,
			"two databases out of recovery",
			fmt.Sprintf("database n1 %s, n2 %s, n1 %s", pgSeen[0], pgSeen[1], pgSeen[2]))
		c.mu.Unlock()
	}
}

// episode opens a violation when bad starts, counts the checks it lasts and
// closes it when it ends; c.mu is held.
func (c *chaos) episode(open map[string]*violation, check string, bad bool, now time.Time, what, reads string) {
	v := open[check]
	switch {
	case bad && v == nil:
		v = c.violateLocked(check, what, reads, now)
		v.ticks = 1
		open[check] = v
	case bad:
		v.ticks++
	case v != nil:
		v.end = now
		delete(open, check)
	}
}

// violation is one breach of an invariant: an episode of consecutive failed
// checks (vip, pg), or a one-off (service, rows, loss).
type violation struct {
	n      int
	check  string // vip, pg, service, rows, loss
	what   string
	reads  string // what the check saw when it began
	start  time.Time
	end    time.Time // zero while it lasts (for an episode)
	ticks  int       // checks it lasted (episodes)
	fault  *fault    // the fault applied last when it began; nil before the first
	phase  string    // that fault's phase then
	state  [2]string // both nodes' status then, in brief
	saved  string    // the file holding both status documents
	oneOff bool
}

// violateLocked records a violation of an invariant checked at now, during
// the fault and phase of the moment, and, in the background, both nodes'
// status; c.mu is held.
func (c *chaos) violateLocked(check, what, reads string, now time.Time) *violation {
	v := &violation{n: len(c.violations) + 1, check: check, what: what, reads: reads, start: now, fault: c.current, phase: c.phase}
	c.violations = append(c.violations, v)
	c.snapshots.Go(func() { c.snapshot(v) })
	return v
}

// violate records a one-off violation found now, with both nodes' status.
func (c *chaos) violate(check, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.violateLocked(check, what, "", time.Now())
	v.oneOff = true
}

// violateAfter records a one-off violation found after the fact: it
// happened at at, during fl (nil: none); no status is taken. c.mu is held.
func (c *chaos) violateAfter(check, what string, at time.Time, fl *fault, phase string) {
	c.violations = append(c.violations, &violation{n: len(c.violations) + 1, check: check, what: what,
		start: at, fault: fl, phase: phase, oneOff: true})
}

// snapshot reads both nodes' status documents (what pbxha status --json
// prints), keeps a brief line of each in v and saves them whole in c.dir.
func (c *chaos) snapshot(v *violation) {
	docs := map[string]*control.Status{}
	var state [2]string
	for i, n := range c.f.nodes {
		st, err := n.status(c.t)
		if err != nil {
			state[i] = n.host.Name + ": status: " + err.Error()
			continue
		}
		docs[n.host.Name] = &st
		state[i] = c.brief(n.host.Name, &st)
	}
	path := filepath.Join(c.dir, fmt.Sprintf("violation%03d-status.json", v.n))
	b, _ := json.MarshalIndent(docs, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		path = "(not saved: " + err.Error() + ")"
	}
	c.mu.Lock()
	v.state, v.saved = state, path
	c.mu.Unlock()
}

// pathsWorkLocked reports whether a heartbeat path works at now, as far as
// the schedule knows: not while a fault that cuts every path lasts, nor for
// healGrace after its heal. c.mu is held.
func (c *chaos) pathsWorkLocked(now time.Time) bool {
	fl := c.current
	if fl == nil || !fl.kind.cutsAllPaths() {
		return true
	}
	return !fl.healed.IsZero() && now.Sub(fl.healed) >= healGrace
}

// nodeStatus is the last status poll of one node.
type nodeStatus struct {
	at  time.Time
	st  *control.Status
	err error
}

// takeover is a node becoming primary, from its role history.
type takeover struct {
	node   string
	at     time.Time
	from   string
	epoch  uint64
	reason string
}

// poll reads both nodes' status every pollEvery until ctx ends (bounded by
// limit), keeping the last one and every change to primary in the role
// histories (ten changes kept per node: far more than a poll's worth).
func (c *chaos) poll(ctx context.Context, limit time.Duration) {
	seen := map[string]bool{}
	for i := 0; i < int(limit/pollEvery); i++ {
		for k, n := range c.f.nodes {
			st, err := n.status(c.t)
			c.mu.Lock()
			c.last[k] = nodeStatus{at: time.Now(), err: err}
			if err == nil {
				c.last[k].st = &st
				c.noteDecision(k, &st)
				if st.Pair != nil {
					for _, h := range st.Pair.RoleHistory {
						key := n.host.Name + h.At.Format(time.RFC3339Nano) + h.To
						if seen[key] || h.To != "primary" {
							continue
						}
						seen[key] = true
						c.takeovers = append(c.takeovers, takeover{node: n.host.Name, at: h.At, from: h.From, epoch: h.Epoch, reason: h.Reason})
					}
				}
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollEvery):
		}
	}
}

// decision is what a node's status said of its last decision, from the
// first poll that saw it.
type decision struct {
	at                   time.Time
	role, acting, reason string
}

// noteDecision keeps node k's decision when it differs from the last one
// kept; c.mu is held.
func (c *chaos) noteDecision(k int, st *control.Status) {
	d := decision{at: time.Now(), role: st.Role}
	if st.Pair != nil {
		d.acting, d.reason = st.Pair.Acting, st.Pair.Reason
	}
	h := c.decisions[k]
	if n := len(h); n > 0 && h[n-1].role == d.role && h[n-1].acting == d.acting && h[n-1].reason == d.reason {
		return
	}
	c.decisions[k] = append(h, d)
}

// roles returns the primary and the standby of the moment, by the last
// status polls; when they do not show exactly one primary, by the VIP, and
// else n1 and n2.
func (c *chaos) roles() (prim, stby *pairNode) {
	c.mu.Lock()
	var primaries []*pairNode
	for k, n := range c.f.nodes {
		if s := c.last[k].st; s != nil && s.Role == "primary" {
			primaries = append(primaries, n)
		}
	}
	c.mu.Unlock()
	if len(primaries) == 1 {
		return primaries[0], c.f.other(primaries[0])
	}
	if c.f.n2.holdsVIP(c.t) && !c.f.n1.holdsVIP(c.t) {
		return c.f.n2, c.f.n1
	}
	return c.f.n1, c.f.n2
}

// brief renders a status document on one line: role, health, epoch, the
// action under way, the reason of the last decision, the peer as this node
// sees it (its paths included) and the last role change.
func (c *chaos) brief(name string, st *control.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: role %s, health %s", name, st.Role, st.Health)
	if p := st.Pair; p != nil {
		fmt.Fprintf(&b, ", epoch %d", p.Epoch)
		if p.Acting != "" {
			fmt.Fprintf(&b, ", acting %s", p.Acting)
			if p.ActingSince != nil {
				fmt.Fprintf(&b, " since %s", c.at(*p.ActingSince))
			}
		}
		fmt.Fprintf(&b, ", reason %q", p.Reason)
		if p.LastError != "" {
			fmt.Fprintf(&b, ", last error %q", p.LastError)
		}
		fmt.Fprintf(&b, "; peer %s alive %v role %s health %s epoch %d paths %s",
			p.Peer.Node, p.Peer.Alive, p.Peer.Role, p.Peer.Health, p.Peer.Epoch, c.pathList(p.Peer.Paths))
		if h := p.RoleHistory; len(h) > 0 {
			last := h[len(h)-1]
			fmt.Fprintf(&b, "; last change %s→%s epoch %d at %s (%s)", last.From, last.To, last.Epoch, c.at(last.At), last.Reason)
		}
	}
	for _, pr := range st.Probes {
		if pr.State != "ok" {
			fmt.Fprintf(&b, "; probe %s %s", pr.Name, pr.State)
			if pr.Last != nil && (pr.Last.Detail != "" || pr.Last.Error != "") {
				fmt.Fprintf(&b, " (%s)", strings.TrimSpace(pr.Last.Detail+" "+pr.Last.Error))
			}
		}
	}
	return b.String()
}

// pathList names each heartbeat path (lan: over the switch; direct: the
// crossover link) with whether it is alive.
func (c *chaos) pathList(paths []control.PathState) string {
	var parts []string
	for _, p := range paths {
		name := "lan"
		if ap, err := netip.ParseAddrPort(p.Local); err == nil && (ap.Addr() == c.f.link.AIP || ap.Addr() == c.f.link.BIP) {
			name = "direct"
		}
		state := "down"
		if p.Alive {
			state = "up"
		}
		parts = append(parts, name+" "+state)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pathsLine is how both nodes saw the heartbeat paths at their last poll.
func (c *chaos) pathsLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, n := range c.f.nodes {
		if s := c.last[k].st; s != nil && s.Pair != nil {
			parts = append(parts, n.host.Name+" "+c.pathList(s.Pair.Peer.Paths))
		}
	}
	return strings.Join(parts, ", ")
}
