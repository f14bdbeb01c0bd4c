package test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/test/netns"
	"github.com/pbxha/pbxha/test/pgtest"
)

// faultKind is one kind of fault the chaos soak injects.
type faultKind int

// The fault kinds, in the order of the summary table.
const (
	pathCut        faultKind = iota // one heartbeat path cut: the direct link down, or heartbeats dropped on the switch
	allPathsCut                     // the direct link down and heartbeats dropped on the switch
	oneWayCut                       // heartbeats from one node to the other dropped on every path
	tieBreakerLost                  // one node's packets to the tie-breaker dropped
	pbxKilled                       // one node's test PBXs killed (restarted at the heal)
	pbxHung                         // one node's test PBXs stopped with SIGSTOP (SIGCONT at the heal)
	lanDown                         // one node's switch port down (its link to the client and tie-breaker)
	pgStopped                       // the primary's PostgreSQL stopped (pg_ctl stop -m fast)
	heartbeatLoss                   // 20 % of heartbeats dropped at random on every path, both ways
	numFaultKinds
)

// faultSpec is how long a fault kind is held: from, to in the short (CI)
// run and in the long one.
var faultSpecs = [numFaultKinds]struct {
	name        string
	short, long [2]time.Duration
}{
	pathCut:        {"path-cut", [2]time.Duration{2 * time.Second, 5 * time.Second}, [2]time.Duration{3 * time.Second, 12 * time.Second}},
	allPathsCut:    {"all-paths-cut", [2]time.Duration{2 * time.Second, 5 * time.Second}, [2]time.Duration{3 * time.Second, 12 * time.Second}},
	oneWayCut:      {"one-way-cut", [2]time.Duration{2 * time.Second, 5 * time.Second}, [2]time.Duration{3 * time.Second, 12 * time.Second}},
	tieBreakerLost: {"tie-breaker-lost", [2]time.Duration{2 * time.Second, 5 * time.Second}, [2]time.Duration{3 * time.Second, 12 * time.Second}},
	pbxKilled:      {"pbx-killed", [2]time.Duration{2 * time.Second, 4 * time.Second}, [2]time.Duration{2 * time.Second, 8 * time.Second}},
	pbxHung:        {"pbx-hung", [2]time.Duration{2 * time.Second, 4 * time.Second}, [2]time.Duration{2 * time.Second, 8 * time.Second}},
	lanDown:        {"lan-down", [2]time.Duration{2 * time.Second, 5 * time.Second}, [2]time.Duration{3 * time.Second, 12 * time.Second}},
	pgStopped:      {"pg-stopped", [2]time.Duration{4 * time.Second, 7 * time.Second}, [2]time.Duration{5 * time.Second, 12 * time.Second}},
	heartbeatLoss:  {"heartbeat-loss-20%", [2]time.Duration{10 * time.Second, 15 * time.Second}, [2]time.Duration{20 * time.Second, 40 * time.Second}},
}

// Pauses between a fault's service return and the next fault.
var (
	pauseShort = [2]time.Duration{1 * time.Second, 3 * time.Second}
	pauseLong  = [2]time.Duration{2 * time.Second, 8 * time.Second}
)

// faultKindNamed returns the kind whose String is name, or -1.
func faultKindNamed(name string) faultKind {
	for k := range numFaultKinds {
		if k.String() == name {
			return k
		}
	}
	return -1
}

// faultKindNames lists the kinds' names, comma-separated.
func faultKindNames() string {
	var names []string
	for k := range numFaultKinds {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

func (k faultKind) String() string {
	if k < 0 || k >= numFaultKinds {
		return fmt.Sprintf("fault(%d)", int(k))
	}
	return faultSpecs[k].name
}

// cutsAllPaths reports whether no heartbeat path works both ways while a
// fault of this kind lasts: two VIP holders are then no violation.
func (k faultKind) cutsAllPaths() bool { return k == allPathsCut || k == oneWayCut }

// fault is one fault of the schedule: drawn from the seed before it runs,
// then filled in as it runs.
type fault struct {
	n         int // from 1
	kind      faultKind
	onPrimary bool // a one-node fault hits the primary (else the standby); pg-stopped always the primary
	lanPath   bool // path-cut: the path over the switch (else the direct link)
	hold      time.Duration
	pause     time.Duration

	target  *pairNode // the node hit, for one-node faults
	detail  string    // what was done, in words
	heal    string    // what the heal did, when it says more than the undo
	nft     []*netns.Host
	applied time.Time
	healed  time.Time
	back    time.Time // the client served again (SIP and a write) after the heal; zero: not seen
	whole   time.Time // the pair whole again after the heal (waitProtected); zero: not seen
	paths   string    // the heartbeat paths as both nodes saw them just before the heal
}

// draw draws fault n of kind k from r: always the same four draws, so that
// a seed gives the same schedule whatever happened before.
func drawFault(r *rand.Rand, n int, k faultKind, long bool) *fault {
	hold, pause := faultSpecs[k].short, pauseShort
	if long {
		hold, pause = faultSpecs[k].long, pauseLong
	}
	between := func(d [2]time.Duration) time.Duration {
		return d[0] + time.Duration(r.Int64N(int64(d[1]-d[0])+1)).Round(100*time.Millisecond)
	}
	return &fault{n: n, kind: k, onPrimary: r.IntN(2) == 0, lanPath: r.IntN(2) == 0, hold: between(hold), pause: between(pause)}
}

// nftTable is the table the faults put their rules in, one per namespace.
const nftTable = "pbxha_chaos"

// heartbeatPort is the UDP port of every heartbeat path of the pair.
const heartbeatPort = "7946"

// nftDrop adds the rules to h's table (input and output chains at priority
// -10, so they see packets before anything else).
func (c *chaos) nftDrop(fl *fault, h *netns.Host, input, output []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", nftTable)
	for _, ch := range []struct {
		name  string
		rules []string
	}{{"input", input}, {"output", output}} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority -10; policy accept;\n", ch.name, ch.name)
		for _, r := range ch.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	path := filepath.Join(c.dir, fmt.Sprintf("fault%03d-%s.nft", fl.n, h.Name))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fl.nft = append(fl.nft, h)
	if out, err := h.Run("nft", "-f", path); err != nil {
		return fmt.Errorf("nft -f %s: %w\n%s", path, err, out)
	}
	return nil
}

// apply injects fl, resolving its target from the roles of the moment.
func (c *chaos) apply(fl *fault) error {
	prim, stby := c.roles()
	fl.target = stby
	if fl.onPrimary || fl.kind == pgStopped {
		fl.target = prim
	}
	other := c.f.other(fl.target)
	role := "standby"
	if fl.target == prim {
		role = "primary"
	}
	who := fmt.Sprintf("%s (%s)", fl.target.host.Name, role)
	lanDrop := []string{fmt.Sprintf(`iifname "%s" udp dport %s drop`, c.f.n1.host.Link, heartbeatPort)}
	switch fl.kind {
	case pathCut:
		if fl.lanPath {
			fl.detail = "heartbeats dropped on the switch (path 1)"
			for _, n := range c.f.nodes {
				if err := c.nftDrop(fl, n.host, lanDrop, nil); err != nil {
					return err
				}
			}
			return nil
		}
		fl.detail = "direct link down (path 2)"
		return c.f.link.Down()
	case allPathsCut:
		fl.detail = "direct link down and heartbeats dropped on the switch"
		if err := c.f.link.Down(); err != nil {
			return err
		}
		for _, n := range c.f.nodes {
			if err := c.nftDrop(fl, n.host, lanDrop, nil); err != nil {
				return err
			}
		}
		return nil
	case oneWayCut:
		fl.detail = fmt.Sprintf("heartbeats %s→%s dropped on both paths (from the %s)", fl.target.host.Name, other.host.Name, role)
		from := []string{fl.target.host.IP.String(), c.linkIP(fl.target)}
		rule := fmt.Sprintf("ip saddr { %s } udp dport %s drop", strings.Join(from, ", "), heartbeatPort)
		return c.nftDrop(fl, other.host, []string{rule}, nil)
	case tieBreakerLost:
		fl.detail = who + ": packets to the tie-breaker dropped"
		rule := fmt.Sprintf("ip daddr %s tcp dport %s drop", c.f.tb.IP, tieBreakerPort)
		return c.nftDrop(fl, fl.target.host, nil, []string{rule})
	case pbxKilled:
		fl.detail = who + ": test PBXs killed (SIGKILL)"
		fl.target.signalPBX(c.t, syscall.SIGKILL)
		return nil
	case pbxHung:
		fl.detail = who + ": test PBXs hung (SIGSTOP)"
		fl.target.signalPBX(c.t, syscall.SIGSTOP)
		return nil
	case lanDown:
		fl.detail = who + ": switch port down"
		return fl.target.host.LinkDown()
	case pgStopped:
		fl.detail = who + ": PostgreSQL stopped (pg_ctl stop -m fast)"
		argv := c.pgCtl("stop", "-D", c.f.db[fl.target].DataDir, "-m", "fast", "-w", "-t", "30")
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("pg_ctl stop on %s: %w\n%s", fl.target.host.Name, err, out)
		}
		return nil
	case heartbeatLoss:
		fl.detail = "20 % of heartbeats dropped at random on every path, both ways"
		rule := fmt.Sprintf("udp dport %s numgen random mod 100 < 20 drop", heartbeatPort)
		for _, n := range c.f.nodes {
			if err := c.nftDrop(fl, n.host, []string{rule}, nil); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown fault kind %d", fl.kind)
}

// undo heals fl: the rules and links go, the PBXs run again, the database
// runs again (see healPG).
func (c *chaos) undo(fl *fault) error {
	fl.paths = c.pathsLine()
	c.mu.Lock()
	fl.healed = time.Now()
	c.mu.Unlock()
	var errs []error
	for _, h := range fl.nft {
		if out, err := h.Run("nft", "delete", "table", "inet", nftTable); err != nil {
			errs = append(errs, fmt.Errorf("%s: nft delete table: %w\n%s", h.Name, err, out))
		}
	}
	switch fl.kind {
	case pathCut:
		if !fl.lanPath {
			errs = append(errs, c.f.link.Up())
		}
	case allPathsCut:
		errs = append(errs, c.f.link.Up())
	case pbxKilled:
		restartPBX(c.t, fl.target)
	case pbxHung:
		fl.target.signalPBX(c.t, syscall.SIGCONT)
	case lanDown:
		errs = append(errs, fl.target.host.LinkUp())
	case pgStopped:
		how, err := c.healPG(fl.target)
		fl.heal = how
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Bounds of the heal of a stopped database.
const (
	pgRejoinWait = 15 * time.Second // for pbxha's rejoin to start the server, while none runs
	pgHealWait   = 90 * time.Second // in all, a running rejoin included
)

// healPG undoes pg-stopped on n as an operator would, without making a
// second primary. When n is still primary (no failover), the server is
// started again as it was. When pbxha failed over, its rejoin
// (configs/pg-demote.sh with PBXHA_ACTION=rejoin) starts the server as a
// standby of the new primary: the heal waits for it while it runs; when
// none ran within pgRejoinWait, that is a violation, and the heal rejoins
// the server itself with the same script, as the operator answering
// db_rejoin_failed would, so that the soak goes on.
func (c *chaos) healPG(n *pairNode) (string, error) {
	db := c.f.db[n]
	start := time.Now()
	for i := 0; i < 1000 && time.Since(start) < pgHealWait; i++ {
		if c.pgRunning(n) {
			return fmt.Sprintf("running again %s after the heal (restarted by pbxha's rejoin)", time.Since(start).Round(100*time.Millisecond)), nil
		}
		st, err := n.status(c.t)
		if err == nil && st.Role == "primary" && st.Pair != nil && st.Pair.Acting == "" {
			argv := c.pgCtl("start", "-D", db.DataDir, "-w", "-t", "25", "-o", "-p 5432", "-l", db.DataDir+".pbxha.log")
			if out, err := n.host.Run(argv...); err != nil {
				return "", fmt.Errorf("pg_ctl start on %s: %w\n%s", n.host.Name, err, out)
			}
			return "started again by the harness (the node was still primary)", nil
		}
		if err == nil && st.Role == "standby" && time.Since(start) > pgRejoinWait && !demoteRunning(db.DataDir) {
			peer := c.f.other(n)
			if out, err := c.rejoinByHand(n, peer); err != nil {
				return "", fmt.Errorf("%s's database: pbxha started no rejoin, and pg-demote.sh by hand failed: %w\n%s", n.host.Name, err, out)
			}
			// pbxha's release rejoins a database it finds stopped: one
			// still stopped is a fault of pbxha's (the harness repairs it
			// so that the soak goes on).
			c.violate("rejoin", fmt.Sprintf("%s's database was still stopped %s after the heal, the node standby and no rejoin running: "+
				"pbxha's release rejoined nothing; the harness ran pg-demote.sh (PBXHA_ACTION=rejoin) as an operator would",
				n.host.Name, pgRejoinWait))
			return "rejoined by the harness with pg-demote.sh (pbxha started no rejoin)", nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return "", fmt.Errorf("%s's database still stopped %s after the heal", n.host.Name, pgHealWait)
}

// rejoinByHand runs configs/pg-demote.sh in n's namespace as pbxha's rejoin
// would, towards peer's server.
func (c *chaos) rejoinByHand(n, peer *pairNode) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := c.f.db[n]
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.host.NS, "env",
		"PGDATA="+db.DataDir, "PGBIN="+c.f.bin, "PG_CTL_OPTS=-p 5432", "PG_STOP_TIMEOUT=20",
		"PBXHA_ACTION=rejoin", "PBXHA_NODE="+n.host.Name, "PBXHA_PEER_HOST="+peer.host.IP.String(), "PBXHA_PEER_PORT=5432",
		c.f.demote)
	return cmd.CombinedOutput()
}

// demoteRunning reports whether a demote command runs for the data
// directory dir: a process whose command line names pg-demote.sh and dir's
// demote log (startPGPairNode's demote_command).
func demoteRunning(dir string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cl := string(b)
		if strings.Contains(cl, "pg-demote.sh") && strings.Contains(cl, dir+".demote.log") {
			return true
		}
	}
	return false
}

// pgRunning reports whether a postmaster runs in n's data directory.
func (c *chaos) pgRunning(n *pairNode) bool {
	argv := c.pgCtl("status", "-D", c.f.db[n].DataDir)
	return exec.Command(argv[0], argv[1:]...).Run() == nil
}

// pgCtl returns a pg_ctl command line run as the clusters' owner.
func (c *chaos) pgCtl(args ...string) []string {
	return pgtest.AsOwner(c.t, append([]string{filepath.Join(c.f.bin, "pg_ctl")}, args...)...)
}

// linkIP is n's address on the direct link.
func (c *chaos) linkIP(n *pairNode) string {
	local, _ := c.f.link.Ends(n.host.Host)
	return local.String()
}
