package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

// Bounds of the soak's waits.
const (
	serviceBound  = 30 * time.Second  // the service must be back this long after a heal
	serviceGiveUp = 120 * time.Second // after this the pair is lost and the soak stops
	protectWait   = 60 * time.Second  // before a fault: the pair whole again (else noted)
	shortBudget   = 10 * time.Minute  // the short run's client and watchers stop after this at the latest
	shortNeed     = 5 * time.Minute   // what the short run needs of the test deadline (it takes about 2)
	longExtra     = 8 * time.Minute   // what the long run needs beyond its duration (set-up, recovery, the end)
	longFaultMin  = 5 * time.Second   // the long run has at most duration/longFaultMin faults
)

// chaosConfig is what the environment asks of the soak.
type chaosConfig struct {
	seed      uint64
	long      bool          // PBXHA_CHAOS_DURATION was given
	duration  time.Duration // long: faults are applied until this much time has passed
	maxFaults int           // short: one of each kind, in a random order
	budget    time.Duration // bound of the client and the watchers
	profile   string        // PBXHA_CHAOS_PROFILE: the nodes' failover.profile; "": the default
	kinds     []faultKind   // PBXHA_CHAOS_FAULTS: the kinds applied; all when empty
}

func chaosConfigFromEnv(t *testing.T) chaosConfig {
	t.Helper()
	cfg := chaosConfig{seed: uint64(time.Now().UnixNano()), maxFaults: int(numFaultKinds), budget: shortBudget}
	if s := os.Getenv("PBXHA_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PBXHA_CHAOS_SEED=%q: want an unsigned integer: %v", s, err)
		}
		cfg.seed = seed
	}
	if s := os.Getenv("PBXHA_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute || d > 2*time.Hour {
			t.Fatalf("PBXHA_CHAOS_DURATION=%q: want a duration from 1m to 2h (%v)", s, err)
		}
		cfg.long, cfg.duration = true, d
		cfg.maxFaults = int(d / longFaultMin)
		cfg.budget = d + 10*time.Minute
	}
	if s := os.Getenv("PBXHA_CHAOS_PROFILE"); s != "" {
		if s != "default" && s != "fast" {
			t.Fatalf("PBXHA_CHAOS_PROFILE=%q: want default or fast", s)
		}
		cfg.profile = s
	}
	if s := os.Getenv("PBXHA_CHAOS_FAULTS"); s != "" {
		for _, name := range strings.Split(s, ",") {
			k := faultKindNamed(strings.TrimSpace(name))
			if k < 0 {
				t.Fatalf("PBXHA_CHAOS_FAULTS=%q: %q is not a fault kind (%s)", s, name, faultKindNames())
			}
			cfg.kinds = append(cfg.kinds, k)
		}
		if !cfg.long {
			cfg.maxFaults = len(cfg.kinds)
		}
	}
	// pbxha reads every PBXHA_ variable as a config override and refuses
	// the ones that name no key: the soak's own settings must not reach
	// the nodes it starts. (No test of this package runs in parallel.)
	for _, key := range []string{"PBXHA_CHAOS", "PBXHA_CHAOS_SEED", "PBXHA_CHAOS_DURATION", "PBXHA_CHAOS_PROFILE", "PBXHA_CHAOS_FAULTS"} {
		if v, ok := os.LookupEnv(key); ok {
			os.Unsetenv(key)
			t.Cleanup(func() { os.Setenv(key, v) })
		}
	}
	need := shortNeed
	if cfg.long {
		need = cfg.duration + longExtra
	}
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < need {
		t.Fatalf("the soak needs about %s: run go test with -timeout %s or more", need, (cfg.budget + 5*time.Minute).Round(time.Minute))
	}
	return cfg
}

// replay is the command that runs the soak again with the same schedule.
func (cfg chaosConfig) replay() string {
	dur, timeout := "", ""
	if cfg.long {
		dur = " PBXHA_CHAOS_DURATION=" + cfg.duration.String()
		timeout = " -timeout " + (cfg.budget + 5*time.Minute).Round(time.Minute).String()
	}
	if cfg.profile != "" {
		dur += " PBXHA_CHAOS_PROFILE=" + cfg.profile
	}
	if len(cfg.kinds) > 0 {
		var names []string
		for _, k := range cfg.kinds {
			names = append(names, k.String())
		}
		dur += " PBXHA_CHAOS_FAULTS=" + strings.Join(names, ",")
	}
	return fmt.Sprintf("PBXHA_CHAOS_SEED=%d%s go test -race -v%s -run TestChaosSoak ./test", cfg.seed, dur, timeout)
}

// chaos is one soak: the pair, its client, the schedule and what was seen.
type chaos struct {
	t     *testing.T
	cfg   chaosConfig
	f     *pgPair
	load  *dbLoad
	watch [2]*nodeWatch
	start time.Time
	dir   string // status documents, nft rules and, on failure, the logs

	snapshots sync.WaitGroup

	mu          sync.Mutex
	faults      []*fault
	current     *fault // the fault applied last; nil before the first
	phase       string // before the first fault, active, recovering, pause, final
	last        [2]nodeStatus
	decisions   [2][]decision // each node's decisions as the status polls saw them change
	takeovers   []takeover
	violations  []*violation
	notes       []string
	harnessErrs []string
	checks      int
	rows        rowsResult
}

// TestChaosSoak is the chaos soak of a pair in network namespaces: n1 and
// n2 each run pbxha, the test PBX and a real PostgreSQL (a primary and its
// streaming standby, configs/pg-demote.sh as demote command), with two
// heartbeat paths — over the switch, where the client and the tie-breaker
// host live, and over a direct link between the two (a crossover cable).
// The client sends SIP OPTIONS and inserts numbered rows through the VIP
// throughout. A seeded random schedule applies faults, each for a random
// time, then heals it, with a random pause between: one heartbeat path cut,
// all paths cut, one direction cut, the tie-breaker lost, PBX killed, PBX
// hung, a node's switch port down, PostgreSQL stopped on the primary, and
// 20 % random loss on every heartbeat path (nftables; this kernel has no
// sch_netem). Checked every 50 ms: never two VIP holders while a heartbeat
// path works, never two databases out of recovery; after every heal, the
// service (SIP and a write) is back within 30 s. At the end: every
// acknowledged row is on the final primary, and the 20 % loss caused no
// failover. Each violation is reported with the check, the time, the fault
// of the moment and both nodes' status.
//
// The short run (one fault of each kind) takes about two minutes;
// PBXHA_CHAOS_DURATION=10m runs faults for ten minutes;
// PBXHA_CHAOS_SEED replays a schedule; PBXHA_CHAOS_PROFILE=fast runs the
// nodes with failover.profile fast; PBXHA_CHAOS_FAULTS (e.g.
// heartbeat-loss-20%) applies only the kinds named. See
// docs/development.md.
func TestChaosSoak(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	testenv.RequireRoot(t)
	testenv.LookPath(t, "nft", "/usr/sbin", "/sbin")
	dir, err := os.MkdirTemp("", "pbxha-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: seed %d; replay: %s", cfg.seed, cfg.replay())
	c := &chaos{t: t, cfg: cfg, dir: dir, phase: "before the first fault"}
	t.Cleanup(func() {
		c.snapshots.Wait()
		if !t.Failed() {
			os.RemoveAll(dir)
			return
		}
		t.Logf("chaos: FAILED with seed %d; replay: %s; status documents, rules and logs in %s", cfg.seed, cfg.replay(), dir)
	})

	f := startPGPairWith(t, pgPairOptions{crossover: true, tieBreakerHost: true, trackLAN: true, profile: cfg.profile})
	c.f = f
	t.Cleanup(func() { // before the pair's directories go
		if t.Failed() {
			c.keepLogs()
		}
	})
	f.wait(60*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	f.db[f.n1].Exec(t, "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")
	f.wait(30*time.Second, "n2's database streaming from n1", func() bool {
		rec, sender, err := f.dbState(f.n2)
		return err == nil && rec && sender == f.n1.host.IP.String()
	})
	for k, n := range f.nodes {
		w, err := newNodeWatch(n)
		if err != nil {
			t.Fatal(err)
		}
		c.watch[k] = w
		defer w.close()
	}

	c.start = time.Now()
	c.load = startDBLoad(t, f, cfg.budget)
	ctx, cancel := context.WithCancel(context.Background())
	var watchers sync.WaitGroup
	watchers.Go(func() { c.check(ctx, cfg.budget) })
	watchers.Go(func() { c.poll(ctx, cfg.budget) })
	stopWatchers := func() {
		cancel()
		watchers.Wait()
	}
	defer stopWatchers()

	c.run()
	c.finish()
	stopWatchers()
	c.snapshots.Wait()
	c.report()
}

// run applies the schedule: each fault held, then healed; the service must
// come back, and the next fault waits for the pair to be whole again (up to
// protectWait, else noted) and a random pause.
func (c *chaos) run() {
	t, cfg := c.t, c.cfg
	r := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	kinds := cfg.kinds
	if len(kinds) == 0 {
		for k := range numFaultKinds {
			kinds = append(kinds, k)
		}
	}
	var order []int
	if !cfg.long {
		order = r.Perm(len(kinds))
	}
	if why := c.waitProtected(protectWait); why != "" {
		c.note(fmt.Sprintf("the first fault comes with the pair not whole after %s: %s", protectWait, why))
	}
	began := time.Now()
	for i := 0; i < cfg.maxFaults; i++ {
		if cfg.long && time.Since(began) >= cfg.duration {
			break
		}
		var k faultKind
		if cfg.long {
			k = kinds[r.IntN(len(kinds))]
		} else {
			k = kinds[order[i]]
		}
		fl := drawFault(r, i+1, k, cfg.long)
		c.mu.Lock()
		fl.applied = time.Now()
		c.faults = append(c.faults, fl)
		c.current, c.phase = fl, "active"
		c.mu.Unlock()
		err := c.apply(fl)
		t.Logf("chaos: %s #%d %s: %s; held %s", c.at(fl.applied), fl.n, fl.kind, fl.detail, fl.hold)
		if err != nil {
			t.Errorf("chaos: applying #%d %s: %v", fl.n, fl.kind, err)
		} else {
			time.Sleep(fl.hold) // the fault's duration, not a wait for a state
		}
		if err := c.undo(fl); err != nil {
			t.Errorf("chaos: healing #%d %s: %v", fl.n, fl.kind, err)
		}
		c.setPhase("recovering")
		if !c.waitService(fl) {
			t.Errorf("chaos: the service did not come back within %s after #%d %s was healed: the soak stops here", serviceGiveUp, fl.n, fl.kind)
			return
		}
		how := ""
		if fl.heal != "" {
			how = "; database " + fl.heal
		}
		t.Logf("chaos: %s #%d healed; service back after %s%s", c.at(fl.healed), fl.n, fl.back.Sub(fl.healed).Round(10*time.Millisecond), how)
		c.setPhase("pause")
		if why := c.waitProtected(protectWait); why != "" {
			c.note(fmt.Sprintf("the pair not whole %s after #%d %s was healed: %s", protectWait, fl.n, fl.kind, why))
		} else {
			fl.whole = time.Now()
		}
		time.Sleep(fl.pause) // the random pause between faults
	}
}

// waitService waits until the client has been served again — an OPTIONS
// answered and a row acknowledged — after fl's heal. Past serviceBound that
// is a violation; it reports false when the service is not back even after
// serviceGiveUp.
func (c *chaos) waitService(fl *fault) bool {
	back := func() bool {
		return c.load.sip.lastServed().After(fl.healed) && c.load.write.lastServed().After(fl.healed)
	}
	err := testenv.Poll(serviceBound, func() (bool, string) { return back(), "" })
	if err != nil {
		c.violate("service", fmt.Sprintf("the service (SIP and a write through the VIP) not back %s after #%d %s was healed", serviceBound, fl.n, fl.kind))
		if testenv.Poll(serviceGiveUp-serviceBound, func() (bool, string) { return back(), "" }) != nil {
			return false
		}
	}
	fl.back = latest(c.load.sip.firstAfter(fl.healed), c.load.write.firstAfter(fl.healed))
	return true
}

// waitProtected waits up to d until the pair is whole: one primary holding
// the VIP with a writable database, one healthy standby whose database
// streams from it and has caught up, both nodes hearing each other on every
// path, the client served. It returns "" or what was missing at the end.
func (c *chaos) waitProtected(d time.Duration) string {
	var why string
	err := testenv.Poll(d, func() (bool, string) {
		why = c.protected()
		return why == "", why
	})
	if err != nil {
		return why
	}
	return ""
}

// protected returns what keeps the pair from being whole, or "".
func (c *chaos) protected() string {
	f := c.f
	var prim, stby *pairNode
	for _, n := range f.nodes {
		st, err := n.status(c.t)
		if err != nil {
			return n.host.Name + ": status: " + err.Error()
		}
		switch {
		case st.Role == "primary" && prim == nil:
			prim = n
		case st.Role == "standby" && stby == nil:
			stby = n
		default:
			return fmt.Sprintf("%s is %s", n.host.Name, st.Role)
		}
		if st.Health != "healthy" {
			return fmt.Sprintf("%s is %s", n.host.Name, st.Health)
		}
		if st.Pair == nil || !st.Pair.Peer.Alive {
			return n.host.Name + " does not hear its peer"
		}
		for _, p := range st.Pair.Peer.Paths {
			if !p.Alive {
				return fmt.Sprintf("%s: heartbeat path %s→%s down", n.host.Name, p.Local, p.Peer)
			}
		}
	}
	if !prim.holdsVIP(c.t) || stby.holdsVIP(c.t) {
		return fmt.Sprintf("VIP on %s %v, on %s %v", prim.host.Name, prim.holdsVIP(c.t), stby.host.Name, stby.holdsVIP(c.t))
	}
	if rec, _, err := f.dbState(prim); err != nil || rec {
		return fmt.Sprintf("%s's database: in recovery %v (%v)", prim.host.Name, rec, err)
	}
	if rec, sender, err := f.dbState(stby); err != nil || !rec || sender != prim.host.IP.String() {
		return fmt.Sprintf("%s's database: in recovery %v, streaming from %q (%v), want from %s", stby.host.Name, rec, sender, err, prim.host.IP)
	}
	// Streaming is not enough: after a link flap the WAL receiver may say
	// streaming for many seconds while TCP backs off and nothing arrives.
	// The standby must have received what the primary had a moment ago.
	var primLSN string
	var caught bool
	if err := f.db[prim].TryQueryRow("SELECT pg_current_wal_lsn()::text", nil, &primLSN); err != nil {
		return fmt.Sprintf("%s's WAL position: %v", prim.host.Name, err)
	}
	if err := f.db[stby].TryQueryRow("SELECT coalesce(pg_last_wal_receive_lsn() >= $1::pg_lsn, false)", []any{primLSN}, &caught); err != nil || !caught {
		return fmt.Sprintf("%s's database has not received the primary's WAL up to %s (%v)", stby.host.Name, primLSN, err)
	}
	if since := time.Since(c.load.sip.lastServed()); since > time.Second {
		return fmt.Sprintf("no SIP answer through the VIP for %s", since.Round(time.Millisecond))
	}
	if since := time.Since(c.load.write.lastServed()); since > 2*time.Second {
		return fmt.Sprintf("no write through the VIP for %s", since.Round(time.Millisecond))
	}
	return ""
}

// finish waits for the pair to settle, stops the client and checks the
// rows and the failovers under 20 % loss.
func (c *chaos) finish() {
	c.setPhase("final")
	if why := c.waitProtected(protectWait); why != "" {
		c.note(fmt.Sprintf("the pair not whole at the end after %s: %s", protectWait, why))
	}
	c.load.stop()
	c.checkRows()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, fl := range c.faults {
		if fl.kind != heartbeatLoss {
			continue
		}
		// The loss's own window: until healGrace after its heal, or the
		// next fault, whichever comes first.
		until := fl.healed.Add(healGrace)
		if i+1 < len(c.faults) && c.faults[i+1].applied.Before(until) {
			until = c.faults[i+1].applied
		}
		for _, to := range c.takeovers {
			if !to.at.Before(fl.applied) && to.at.Before(until) {
				c.violateAfter("loss", fmt.Sprintf("a failover under 20 %% heartbeat loss alone: %s became primary at epoch %d, from %s (%s)",
					to.node, to.epoch, to.from, to.reason), to.at, fl, "active or just healed")
			}
		}
	}
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (c *chaos) setPhase(p string) {
	c.mu.Lock()
	c.phase = p
	c.mu.Unlock()
}

func (c *chaos) note(s string) {
	c.t.Logf("chaos: note: %s", s)
	c.mu.Lock()
	c.notes = append(c.notes, s)
	c.mu.Unlock()
}

// at is a time as an offset from the soak's start.
func (c *chaos) at(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%.2fs", t.Sub(c.start).Seconds())
}
