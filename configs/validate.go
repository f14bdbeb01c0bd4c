package configs

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/vip"
)

// Limits that validation enforces.
const (
	MinInterval   = 10 * time.Millisecond
	MaxHistory    = 1000
	MaxEventsKeep = 1000000
	maxSocketPath = 107 // sun_path holds 108 bytes with the terminating NUL
)

// Validate checks the configuration and returns an *Error listing every
// problem, or nil. Load and Parse call it; call it again after changing a
// Config by hand.
func (c *Config) Validate() error {
	ps := &problems{}
	c.validate(ps, false)
	return ps.err()
}

// checker reports problems about keys, naming the source each key's value
// came from (the file, an environment variable, or the file for defaults).
type checker struct {
	ps           *problems
	file         string
	origins      map[string]string
	markDefaults bool // values not in origins are defaults (true right after loading)
}

// validate adds c's problems to ps. markDefaults says that c is fresh from
// the loader, so that a value without an origin is known to be a default.
func (c *Config) validate(ps *problems, markDefaults bool) {
	file := c.Source
	if file == "" {
		file = "config"
	}
	ck := &checker{ps: ps, file: file, origins: c.origins, markDefaults: markDefaults}
	ck.top(c)
	ck.probes(&c.Probes)
	ck.supervise(c)
	ck.alerts(c)
	ck.pair(c)
	ck.etcd(c)
}

func (ck *checker) bad(key, format string, args ...any) {
	src, ok := ck.origins[key]
	if i := strings.LastIndexByte(key, '['); !ok && i > 0 && strings.HasSuffix(key, "]") {
		// An element of a string list, which an environment variable sets whole.
		src, ok = ck.origins[key[:i]]
	}
	if !ok {
		src = ck.file
	}
	ck.ps.add(src, key, format, args...)
}

// show renders a value for a message, marking values that are defaults, so
// an operator knows the key is not in the file.
func (ck *checker) show(key string, v any) string {
	s := fmt.Sprint(v)
	if _, ok := ck.origins[key]; !ok && ck.markDefaults {
		s += " (the default)"
	}
	return s
}

// The name patterns leave the length to a comparison: a bounded repeat
// ({0,62}) compiles into a copy of the class per repetition, 21-26 KiB of
// program per pattern, live on the heap for the whole run (and scanned by
// every garbage collection); the unbounded one is under 1 KiB.
var (
	nodeNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	probeNameRE = regexp.MustCompile(`^[a-z0-9_.-]+$`)
	pgTableRE   = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// maxNameLen is the longest node name, cluster name or table name: 63
// bytes (the classes are ASCII, so bytes are characters).
const maxNameLen = 63

// validNodeName reports whether s is 1-63 letters, digits, "_", "." or "-",
// starting with a letter or digit.
func validNodeName(s string) bool { return len(s) <= maxNameLen && nodeNameRE.MatchString(s) }

// validTable reports whether s is a plain lowercase identifier of at most
// 63 bytes.
func validTable(s string) bool { return len(s) <= maxNameLen && pgTableRE.MatchString(s) }

func (ck *checker) top(c *Config) {
	if !validNodeName(c.Node.Name) {
		ck.bad("node.name", "%q must be 1-63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit (empty means the host name)", c.Node.Name)
	}
	if !validNodeName(c.Node.Cluster) {
		ck.bad("node.cluster", "%q must be 1-63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit", c.Node.Cluster)
	}
	oneOf(ck, "log.format", c.Log.Format, "text", "json")
	oneOf(ck, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	switch s := c.Control.Socket; {
	case !filepath.IsAbs(s):
		ck.bad("control.socket", "%q must be an absolute path", s)
	case len(s) > maxSocketPath:
		ck.bad("control.socket", "path is %d bytes long; a unix socket path holds at most %d", len(s), maxSocketPath)
	case strings.HasSuffix(s, "/"):
		ck.bad("control.socket", "%q names a directory; name the socket file", s)
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := splitHostPort(l, true); err != nil {
			ck.bad("metrics.listen", "%q %v (e.g. 127.0.0.1:9464; empty turns metrics off)", l, err)
		}
	}
	if !filepath.IsAbs(c.StateDir) {
		ck.bad("state_dir", "%q must be an absolute path", c.StateDir)
	}
	if c.History < 1 || c.History > MaxHistory {
		ck.bad("history", "%d must be from 1 to %d", c.History, MaxHistory)
	}
	if c.Events.Keep < 1 || c.Events.Keep > MaxEventsKeep {
		ck.bad("events.keep", "%d must be from 1 to %d", c.Events.Keep, MaxEventsKeep)
	}
	if a := c.Events.MaxAge; a < 0 || (a > 0 && a < time.Hour) {
		ck.bad("events.max_age", "%s must be 0 (no age limit) or at least 1h", a)
	}
}

func oneOf(ck *checker, key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		ck.bad(key, "%q must be one of %s", val, strings.Join(allowed, ", "))
	}
}

// supervise reports the supervisor package's problems of pbx.supervise,
// the one home of its rules, and adds that the file spells every default
// out: a zero where the supervisor would read the default is a mistake.
func (ck *checker) supervise(c *Config) {
	const key = "pbx.supervise"
	s := &c.PBX.Supervise
	for _, p := range c.SupervisorConfig().Problems() {
		ck.bad(key+"."+p.Key, "%s", p.Msg)
	}
	if s.StopTimeout == 0 {
		ck.bad(key+".stop_timeout", "%s must be positive", ck.show(key+".stop_timeout", s.StopTimeout))
	}
	if s.BackoffMax == 0 && s.BackoffInitial > 0 {
		ck.bad(key+".backoff_max", "%s must not be shorter than backoff_initial %s", s.BackoffMax, s.BackoffInitial)
	}
	if s.BackoffFactor == 0 {
		ck.bad(key+".backoff_factor", "%v must be at least 1", s.BackoffFactor)
	}
	if s.MaxRestarts == 0 {
		ck.bad(key+".max_restarts", "%d must be at least 1", s.MaxRestarts)
	}
	if s.Window == 0 {
		ck.bad(key+".window", "%s must be positive", ck.show(key+".window", s.Window))
	}
}

// alerts checks the alerts section. The alert package holds the rules of
// the keys it takes; the file adds its own: min_severity and headers are
// text to parse, secret and secret_file are read here, and a zero where
// alert would read its default is a mistake. Each key's problems are
// reported in the file's order: the file's rule first, then the package's.
func (ck *checker) alerts(c *Config) {
	const key = "alerts"
	a := &c.Alerts
	pkg := map[string][]string{} // key below alerts -> the alert package's problems
	var order []string
	for _, p := range c.AlertConfig().Problems() {
		if _, seen := pkg[p.Key]; !seen {
			order = append(order, p.Key)
		}
		pkg[p.Key] = append(pkg[p.Key], p.Msg)
	}
	emit := func(k string) {
		for _, msg := range pkg[k] {
			ck.bad(key+"."+k, "%s", msg)
		}
		delete(pkg, k)
	}
	for _, d := range []struct {
		k string
		v time.Duration
	}{{"max_age", a.MaxAge}, {"backoff_initial", a.BackoffInitial}, {"flap_window", a.FlapWindow}} {
		if d.v == 0 {
			ck.bad(key+"."+d.k, "%s must be positive", ck.show(key+"."+d.k, d.v))
		}
		emit(d.k)
	}
	if a.BackoffMax == 0 && a.BackoffInitial > 0 {
		ck.bad(key+".backoff_max", "%s must not be shorter than backoff_initial %s", a.BackoffMax, a.BackoffInitial)
	}
	emit("backoff_max")
	if a.MaxQueued == 0 {
		ck.bad(key+".max_queued", "%d must be at least 1", a.MaxQueued)
	}
	emit("max_queued")
	if a.FlapThreshold == 0 {
		ck.bad(key+".flap_threshold", "%d must be at least 2", a.FlapThreshold)
	}
	emit("flap_threshold")
	emit("external_url")
	for i := range a.Endpoints {
		e := &a.Endpoints[i]
		ek := fmt.Sprintf("endpoints[%d]", i)
		k := key + "." + ek
		emit(ek + ".name")
		emit(ek + ".url")
		emit(ek + ".format")
		oneOf(ck, k+".min_severity", e.MinSeverity, event.Info.String(), event.Warning.String(), event.Critical.String())
		emit(ek + ".min_severity")
		for j := range e.Kinds {
			emit(fmt.Sprintf("%s.kinds[%d]", ek, j))
		}
		if e.Timeout == 0 {
			ck.bad(k+".timeout", "%s must be positive", ck.show(k+".timeout", e.Timeout))
		}
		emit(ek + ".timeout")
		for j, h := range e.Headers {
			if _, _, ok := parseHeader(h); !ok {
				ck.bad(fmt.Sprintf("%s.headers[%d]", k, j), "must be \"Name: value\" on one line (not shown: a header may hold a secret)")
			}
		}
		emit(ek + ".headers")
		switch {
		case e.Secret != "" && e.SecretFile != "":
			ck.bad(k+".secret_file", "and secret are both set; keep one")
		case e.SecretFile != "" && !filepath.IsAbs(e.SecretFile):
			ck.bad(k+".secret_file", "%q must be an absolute path", e.SecretFile)
		}
	}
	for _, k := range order {
		emit(k) // keys the file has no place for (none today); never dropped
	}
}

// parseHeader splits an alerts.endpoints[].headers item, "Name: value" on
// one line, with the name trimmed and free of blanks.
func parseHeader(h string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(h, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(h, "\r\n") || strings.ContainsAny(name, " \t") {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}

// pair checks peer, failover and vip: the two-node settings.
func (ck *checker) pair(c *Config) {
	p, f, v := &c.Peer, &c.Failover, &c.VIP
	paired := len(p.Paths) > 0 || c.Coordination == CoordinationEtcd
	for i, path := range p.Paths {
		k := fmt.Sprintf("peer.paths[%d]", i)
		local, lerr := netip.ParseAddrPort(path.Local)
		peer, perr := netip.ParseAddrPort(path.Peer)
		if lerr != nil || local.Port() == 0 {
			ck.bad(k+".local", "%q must be ip:port with a numeric IP and a port, e.g. 10.1.1.1:7946", path.Local)
		}
		if perr != nil || peer.Port() == 0 {
			ck.bad(k+".peer", "%q must be ip:port with a numeric IP and a port, e.g. 10.1.1.2:7946", path.Peer)
		}
		if lerr == nil && perr == nil && local.Addr().Is4() != peer.Addr().Is4() {
			ck.bad(k+".peer", "%q and local %q are of different address families", path.Peer, path.Local)
		}
	}
	if !filepath.IsAbs(p.KeyFile) {
		ck.bad("peer.key_file", "%q must be an absolute path", p.KeyFile)
	}
	if p.Interval <= 0 {
		ck.bad("peer.interval", "%s must be positive", ck.show("peer.interval", p.Interval))
	} else if p.DeadAfter < 2*p.Interval {
		ck.bad("peer.dead_after", "%s must be at least twice interval %s, so that one lost heartbeat is not a death", ck.show("peer.dead_after", p.DeadAfter), p.Interval)
	}
	if p.InitDead < p.DeadAfter {
		ck.bad("peer.init_dead", "%s must not be shorter than dead_after %s", ck.show("peer.init_dead", p.InitDead), p.DeadAfter)
	}
	oneOf(ck, "failover.profile", f.Profile, ProfileDefault, ProfileFast)
	oneOf(ck, "failover.mode", f.Mode, failover.FailoverFirst.String(), failover.RestartFirst.String())
	oneOf(ck, "failover.failback", f.Failback, failover.FailbackOff.String(), failover.FailbackAuto.String())
	if f.RestartGrace <= 0 {
		ck.bad("failover.restart_grace", "%s must be positive", ck.show("failover.restart_grace", f.RestartGrace))
	}
	if f.PreferredNode != "" && !validNodeName(f.PreferredNode) {
		ck.bad("failover.preferred_node", "%q is not a node name", f.PreferredNode)
	}
	if f.Failback == failover.FailbackAuto.String() && f.PreferredNode == "" && c.Coordination != CoordinationEtcd {
		ck.bad("failover.preferred_node", `is required with failback "auto": the node the primary role returns to`)
	}
	for i, tb := range f.TieBreakers {
		ck.address(fmt.Sprintf("failover.tie_breakers[%d]", i), tb)
	}
	if len(p.Paths) > 0 && len(f.TieBreakers) == 0 {
		ck.bad("failover.tie_breakers", "must list at least one host:port (e.g. the gateway) with peer.paths set: a node that reaches none never takes over, which is what prevents split brain on a partition")
	}
	if len(f.FenceCommand) > 0 {
		switch {
		case !paired:
			ck.bad("failover.fence_command", "is set but peer.paths is not: a node fences its silent peer before taking over")
		case f.FenceCommand[0] == "":
			ck.bad("failover.fence_command[0]", "is empty: give the program (an absolute path or a name in PATH) and its arguments as a list")
		case strings.ContainsAny(f.FenceCommand[0], " \t"):
			ck.bad("failover.fence_command[0]", "%q contains spaces; the command runs without a shell, so give each argument as its own list item", f.FenceCommand[0])
		}
	}
	if f.FenceTimeout <= 0 {
		ck.bad("failover.fence_timeout", "%s must be positive", ck.show("failover.fence_timeout", f.FenceTimeout))
	}
	switch {
	case f.IsolationAfter <= 0:
		ck.bad("failover.isolation_after", "%s must be positive: an isolated primary must step down before its peer takes over", ck.show("failover.isolation_after", f.IsolationAfter))
	case p.Interval > 0 && f.IsolationAfter < p.Interval:
		ck.bad("failover.isolation_after", "%s must not be shorter than peer.interval %s", ck.show("failover.isolation_after", f.IsolationAfter), p.Interval)
	case f.IsolationAfter > 10*p.DeadAfter:
		ck.bad("failover.isolation_after", "%s is more than ten times dead_after %s: a failover would wait that long", ck.show("failover.isolation_after", f.IsolationAfter), p.DeadAfter)
	}
	if f.StepDownBudget < 0 {
		ck.bad("failover.step_down_budget", "%s must not be negative (0: the default)", f.StepDownBudget)
	}
	oneOf(ck, "failover.witness", f.Witness, WitnessAuto, WitnessOn, WitnessOff)
	if pre, err := netip.ParsePrefix(v.Address); f.Witness == WitnessOn && (v.Mode != string(vip.ModeNetlink) || err != nil || !pre.Addr().Is4()) {
		ck.bad("failover.witness", `"on" needs a netlink VIP of IPv4: the witness asks by ARP who answers on it`)
	}
	for i, name := range f.TrackInterfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t") {
			ck.bad(fmt.Sprintf("failover.track_interfaces[%d]", i), "%q is not an interface name", name)
		}
	}
	if f.FailbackDrain < 0 {
		ck.bad("failover.failback_drain", "%s must not be negative", f.FailbackDrain)
	}
	if _, err := failover.ParseWindow(f.FailbackWindow); err != nil {
		ck.bad("failover.failback_window", "%q: want HH:MM-HH:MM, e.g. 01:00-05:00", f.FailbackWindow)
	}
	if f.RestartHold <= 2*p.DeadAfter {
		ck.bad("failover.restart_hold", "%s must be more than twice dead_after %s: a restarted sidecar needs the time to come back", ck.show("failover.restart_hold", f.RestartHold), p.DeadAfter)
	}
	if f.UnprotectedGrace <= 0 {
		ck.bad("failover.unprotected_grace", "%s must be positive", ck.show("failover.unprotected_grace", f.UnprotectedGrace))
	}
	if f.MaxClockOffset <= 0 {
		ck.bad("failover.max_clock_offset", "%s must be positive", ck.show("failover.max_clock_offset", f.MaxClockOffset))
	}
	if p.NextKeyFile != "" && !filepath.IsAbs(p.NextKeyFile) {
		ck.bad("peer.next_key_file", "%q must be an absolute path", p.NextKeyFile)
	}
	// The vip package holds the rules of its keys; the file adds that only
	// a pair holds a VIP, and that it spells every default out, so a zero
	// is a mistake rather than a request for the default.
	for _, p := range c.VIPConfig().Problems() {
		ck.bad(p.Key, "%s", p.Msg)
	}
	if !paired && v.Mode != string(vip.ModeNone) {
		ck.bad("vip.mode", "%q needs peer.paths: only the primary of a pair holds the VIP", v.Mode)
	}
	if v.GARPCount == 0 {
		ck.bad("vip.garp_count", "%d must be at least 1", v.GARPCount)
	}
	if v.GARPInterval == 0 {
		ck.bad("vip.garp_interval", "%s must be positive", v.GARPInterval)
	}
	if v.Script.Timeout == 0 {
		ck.bad("vip.script.timeout", "%s must be positive", v.Script.Timeout)
	}
	ck.database(c, paired)
	ck.sync(c, paired)
	ck.takeoverESL(c, paired)
	for _, h := range []struct {
		key   string
		hooks []Hook
	}{{"hooks.takeover", c.Hooks.Takeover}, {"hooks.release", c.Hooks.Release}} {
		if len(h.hooks) > 0 && !paired {
			ck.bad(h.key, "is set but peer.paths is not: hooks run on takeover and release of a pair")
		}
		for i, hk := range h.hooks {
			k := fmt.Sprintf("%s[%d]", h.key, i)
			switch {
			case len(hk.Command) == 0 || hk.Command[0] == "":
				ck.bad(k+".command", "is required: the program and its arguments as a list")
			case strings.ContainsAny(hk.Command[0], " \t"):
				ck.bad(k+".command[0]", "%q contains spaces; the command runs without a shell, so give each argument as its own list item", hk.Command[0])
			}
			if hk.Timeout <= 0 {
				ck.bad(k+".timeout", "%s must be positive", hk.Timeout)
			}
		}
	}
}

// takeoverESL checks pbx.takeover_esl and pbx.takeover_ami: commands for
// the first esl probe's event socket, or the first ami probe's manager
// interface, sent after a takeover. A node runs one PBX: not both.
func (ck *checker) takeoverESL(c *Config, paired bool) {
	p := &c.PBX
	ck.takeoverCommands("pbx.takeover_esl", p.TakeoverESL, paired, len(c.Probes.ESL) > 0,
		"needs an esl probe (probes.esl): the commands go to the first one's address with its password",
		"a FreeSWITCH API command, e.g. \"sofia recover\"")
	ck.takeoverCommands("pbx.takeover_ami", p.TakeoverAMI, paired, len(c.Probes.AMI) > 0,
		"needs an ami probe (probes.ami): the commands go to the first one's address as its user",
		"an Asterisk CLI command, e.g. \"pjsip send register *all\"")
	if len(p.TakeoverESL) > 0 && len(p.TakeoverAMI) > 0 {
		ck.bad("pbx.takeover_ami", "is set together with pbx.takeover_esl: a node runs one PBX, FreeSWITCH (esl) or Asterisk (ami)")
	}
	if p.TakeoverESLTimeout <= 0 {
		ck.bad("pbx.takeover_esl_timeout", "%s must be positive", ck.show("pbx.takeover_esl_timeout", p.TakeoverESLTimeout))
	}
	if p.TakeoverAMITimeout <= 0 {
		ck.bad("pbx.takeover_ami_timeout", "%s must be positive", ck.show("pbx.takeover_ami_timeout", p.TakeoverAMITimeout))
	}
}

func (ck *checker) takeoverCommands(key string, cmds []string, paired, probe bool, needProbe, example string) {
	if len(cmds) == 0 {
		return
	}
	switch {
	case !paired:
		ck.bad(key, "is set but peer.paths is not: the commands are sent when a node of a pair takes over")
	case !probe:
		ck.bad(key, "%s", needProbe)
	}
	for i, cmd := range cmds {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case strings.TrimSpace(cmd) == "":
			ck.bad(k, "is empty: give %s", example)
		case strings.ContainsAny(cmd, "\r\n"):
			ck.bad(k, "%q spans several lines: give one command per list item", cmd)
		}
	}
}

// sync checks the sync section: the filesync package holds the rules of
// the keys it takes; the file adds that only a pair syncs, that the
// addresses are ip:port, and that a zero where filesync would read its
// default is a mistake.
func (ck *checker) sync(c *Config, paired bool) {
	s := &c.Sync
	if len(s.Directories) == 0 {
		return
	}
	if !paired {
		ck.bad("sync.directories", "is set but peer.paths is not: the standby of a pair pulls them from the primary")
	}
	for _, a := range []struct{ key, v string }{{"sync.listen", s.Listen}, {"sync.peer", s.Peer}} {
		if ap, err := netip.ParseAddrPort(a.v); a.v != "" && (err != nil || ap.Port() == 0) {
			ck.bad(a.key, "%q must be ip:port with a numeric IP and a port, e.g. 10.1.1.1:8873", a.v)
		}
	}
	if s.LagAlert == 0 {
		ck.bad("sync.lag_alert", "%s must be positive", ck.show("sync.lag_alert", s.LagAlert))
	}
	for i, d := range s.Directories {
		if d.Interval == 0 {
			ck.bad(fmt.Sprintf("sync.directories[%d].interval", i), "%s must be at least 1s", d.Interval)
		}
	}
	for _, p := range c.SyncConfig().Problems() {
		ck.bad("sync."+p.Key, "%s", p.Msg)
	}
}
