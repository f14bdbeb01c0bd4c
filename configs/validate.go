package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
	"github.com/pbxha/pbxha/vip"
)

// Limits that validation enforces.
const (
	MinInterval   = 10 * time.Millisecond
	MaxHistory    = 1000
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

var (
	nodeNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	probeNameRE = regexp.MustCompile(`^[a-z0-9_.-]+$`)
	pgTableRE   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

func (ck *checker) top(c *Config) {
	if !nodeNameRE.MatchString(c.Node.Name) {
		ck.bad("node.name", "%q must be 1-63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit (empty means the host name)", c.Node.Name)
	}
	if !nodeNameRE.MatchString(c.Node.Cluster) {
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
}

func oneOf(ck *checker, key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		ck.bad(key, "%q must be one of %s", val, strings.Join(allowed, ", "))
	}
}

// probes checks every probe and the names across kinds.
func (ck *checker) probes(p *Probes) {
	names := map[string]string{} // name -> key of the probe that has it
	name := func(key string, s *Schedule) {
		k := key + ".name"
		switch {
		case s.Name == "":
			ck.bad(k, "must not be empty; leave the key out to name the probe after its kind")
			return
		case !probeNameRE.MatchString(s.Name):
			ck.bad(k, "%q must be lowercase letters, digits, \"_\", \".\" or \"-\"", s.Name)
			return
		}
		if other, dup := names[s.Name]; dup {
			ck.bad(k, "%q is already the name of %s; probe names must be unique", s.Name, other)
			return
		}
		names[s.Name] = key
	}
	each := func(kind string, n int, sched func(i int) *Schedule, check func(key string, i int)) {
		for i := range n {
			key := fmt.Sprintf("probes.%s[%d]", kind, i)
			name(key, sched(i))
			ck.schedule(key, sched(i))
			check(key, i)
		}
	}
	each("sip", len(p.SIP), func(i int) *Schedule { return &p.SIP[i].Schedule }, func(k string, i int) { ck.sip(k, &p.SIP[i]) })
	each("esl", len(p.ESL), func(i int) *Schedule { return &p.ESL[i].Schedule }, func(k string, i int) { ck.esl(k, &p.ESL[i]) })
	each("pg", len(p.PG), func(i int) *Schedule { return &p.PG[i].Schedule }, func(k string, i int) { ck.pg(k, &p.PG[i]) })
	each("ami", len(p.AMI), func(i int) *Schedule { return &p.AMI[i].Schedule }, func(k string, i int) { ck.ami(k, &p.AMI[i]) })
	each("tcp", len(p.TCP), func(i int) *Schedule { return &p.TCP[i].Schedule }, func(k string, i int) { ck.address(k+".address", p.TCP[i].Address) })
	each("exec", len(p.Exec), func(i int) *Schedule { return &p.Exec[i].Schedule }, func(k string, i int) { ck.exec(k, &p.Exec[i]) })
	if len(p.SIP)+len(p.ESL)+len(p.PG)+len(p.AMI)+len(p.TCP)+len(p.Exec) == 0 {
		ck.bad("probes", "no probe is configured; add at least one (a sip probe of the local PBX is the usual start)")
	}
}

func (ck *checker) schedule(key string, s *Schedule) {
	iv, to := key+".interval", key+".timeout"
	if s.Interval < MinInterval {
		ck.bad(iv, "%s must be at least %s", ck.show(iv, s.Interval), MinInterval)
	}
	switch {
	case s.Timeout <= 0:
		ck.bad(to, "%s must be positive", ck.show(to, s.Timeout))
	case s.Timeout >= s.Interval && s.Interval >= MinInterval:
		ck.bad(to, "%s must be shorter than interval %s", ck.show(to, s.Timeout), ck.show(iv, s.Interval))
	}
	if s.Rise < 1 {
		ck.bad(key+".rise", "%d must be at least 1", s.Rise)
	}
	if s.Fall < 1 {
		ck.bad(key+".fall", "%d must be at least 1", s.Fall)
	}
}

func (ck *checker) sip(key string, p *SIPProbe) {
	t, err := sipcheck.ParseTarget(p.Target)
	switch {
	case p.Target == "":
		ck.bad(key+".target", `is required, e.g. "sip:127.0.0.1:5060;transport=udp"`)
	case unbracketedIPv6(p.Target):
		ck.bad(key+".target", "%q has an IPv6 address that is not in brackets, e.g. sip:[2001:db8::1]:5060", p.Target)
	case err != nil:
		ck.bad(key+".target", "%v", err)
	case !isHostName(t.Host) && !isIPv6(t.Host):
		ck.bad(key+".target", "%q: %q is not an IP address or host name", p.Target, t.Host)
	}
	accept, aerr := sipcheck.ParseCodes(p.Accept)
	switch {
	case aerr != nil:
		ck.bad(key+".accept", "%v", aerr)
	case accept.IsEmpty():
		ck.bad(key+".accept", `must list at least one status code, e.g. "200"`)
	}
	degraded, derr := sipcheck.ParseCodes(p.Degraded)
	if derr != nil {
		ck.bad(key+".degraded", "%v", derr)
	}
	if aerr == nil && derr == nil {
		if c := accept.Overlap(degraded); c != 0 {
			ck.bad(key+".degraded", "%d is also in accept %q; a code can pass or degrade, not both", c, p.Accept)
		}
	}
	if strings.ContainsAny(p.FromUser, " \t\r\n@:;<>\"") {
		ck.bad(key+".from_user", "%q must not contain spaces, quotes or any of @:;<>", p.FromUser)
	}
	if strings.ContainsAny(p.UserAgent, "\r\n") {
		ck.bad(key+".user_agent", "must be a single line")
	}
	if h := p.LocalHost; h != "" && !(isHostName(h) && sipcheck.ValidHost(h)) && !isIPv6(h) {
		ck.bad(key+".local_host", "%q must be an IP address or host name without a port", p.LocalHost)
	}
	if err == nil && p.Target != "" {
		if p.FreshConnection && t.Transport == sipcheck.TransportUDP {
			ck.bad(key+".fresh_connection", "applies to tcp and tls targets only, and %q uses udp", p.Target)
		}
		if p.TLS != (TLS{}) && t.Transport != sipcheck.TransportTLS {
			ck.bad(key+".tls", "is set but %q uses %s; add ;transport=tls or write a sips: URI", p.Target, t.Transport)
		}
	}
	ck.tls(key+".tls", &p.TLS)
}

func (ck *checker) tls(key string, t *TLS) {
	if t.CAFile != "" && !filepath.IsAbs(t.CAFile) {
		ck.bad(key+".ca_file", "%q must be an absolute path", t.CAFile)
	}
	if t.Insecure && t.CAFile != "" {
		ck.bad(key+".insecure", "true skips certificate checks, so ca_file %q would be ignored; set one or the other", t.CAFile)
	}
	if t.ServerName != "" && !isHostName(t.ServerName) && !isIPv6(t.ServerName) {
		ck.bad(key+".server_name", "%q must be a host name", t.ServerName)
	}
}

func (ck *checker) address(key, addr string) {
	if addr == "" {
		ck.bad(key, "is required, e.g. 127.0.0.1:5060")
		return
	}
	host, _, err := splitHostPort(addr, true)
	if err == nil && host == "" {
		err = fmt.Errorf("has no host")
	}
	if err != nil {
		ck.bad(key, "%q %v", addr, err)
	}
}

// secret checks that exactly one of a secret and a file holding it is set.
func (ck *checker) secret(key, name, value, fileName, file string) {
	switch {
	case value != "" && file != "":
		ck.bad(key+"."+fileName, "and %s are both set; keep one", name)
	case value == "" && file == "":
		ck.bad(key+"."+name, "is required; set %s or %s", name, fileName)
	case file != "" && !filepath.IsAbs(file):
		ck.bad(key+"."+fileName, "%q must be an absolute path", file)
	}
}

func (ck *checker) esl(key string, p *ESLProbe) {
	ck.address(key+".address", p.Address)
	ck.secret(key, "password", p.Password, "password_file", p.PasswordFile)
	if strings.ContainsAny(p.Password, "\r\n") {
		ck.bad(key+".password", "must be a single line")
	}
	seen := map[string]bool{}
	for i, prof := range p.Profiles {
		k := fmt.Sprintf("%s.profiles[%d]", key, i)
		switch {
		case prof == "" || strings.ContainsAny(prof, " \t\r\n"):
			ck.bad(k, "%q must be a sofia profile name without spaces", prof)
		case seen[prof]:
			ck.bad(k, "%q is listed twice", prof)
		}
		seen[prof] = true
	}
	if s := p.MaxSessionsShare; !(s >= 0 && s <= 1) {
		ck.bad(key+".max_sessions_share", "%v must be from 0 to 1 (a share of max-sessions; 0 turns the check off)", s)
	}
	if c := p.MinIdleCPU; !(c >= 0 && c <= 100) {
		ck.bad(key+".min_idle_cpu", "%v must be a percentage from 0 to 100 (0 turns the check off)", c)
	}
}

func (ck *checker) pg(key string, p *PGProbe) {
	switch {
	case strings.TrimSpace(p.DSN) == "":
		ck.bad(key+".dsn", `is required, e.g. "postgres://pbxha@127.0.0.1:5432/pbx?sslmode=disable"`)
	default:
		if _, err := pgxpool.ParseConfig(p.DSN); err != nil { // as the pg probe reads it
			ck.bad(key+".dsn", "does not parse: %v", dsnError(err))
		}
	}
	oneOf(ck, key+".expect_role", p.ExpectRole, string(probe.PGRolePrimary), string(probe.PGRoleStandby), string(probe.PGRoleAny))
	if !pgTableRE.MatchString(p.Table) {
		ck.bad(key+".table", "%q must be a plain lowercase identifier (letters, digits, \"_\", at most 63)", p.Table)
	}
	if p.FreshConnEvery < 0 {
		ck.bad(key+".fresh_conn_every", "%s must not be negative (0 turns fresh connections off)", p.FreshConnEvery)
	}
}

func (ck *checker) ami(key string, p *AMIProbe) {
	ck.address(key+".address", p.Address)
	switch {
	case p.Username == "":
		ck.bad(key+".username", "is required (a user from Asterisk's manager.conf)")
	case strings.ContainsAny(p.Username, "\r\n"):
		ck.bad(key+".username", "must be a single line")
	}
	ck.secret(key, "secret", p.Secret, "secret_file", p.SecretFile)
	if strings.ContainsAny(p.Secret, "\r\n") {
		ck.bad(key+".secret", "must be a single line")
	}
	if p.MaxCalls < 0 {
		ck.bad(key+".max_calls", "%d must not be negative (0 turns the check off)", p.MaxCalls)
	}
}

func (ck *checker) exec(key string, p *ExecProbe) {
	if len(p.Command) == 0 || p.Command[0] == "" {
		ck.bad(key+".command", `is required: the program and its arguments as a list, e.g. ["/usr/lib/nagios/plugins/check_procs", "-C", "freeswitch"]`)
		return
	}
	if strings.ContainsAny(p.Command[0], " \t") {
		ck.bad(key+".command[0]", "%q contains spaces; the command runs without a shell, so give each argument as its own list item", p.Command[0])
	}
}

// dsnError returns the parse error of a DSN without the wrappers that
// would repeat the DSN unredacted: pgconn's ParseConfigError, which blanks
// the password, or else the innermost error.
func dsnError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return pe
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// unbracketedIPv6 reports whether a sip: URI has more than one colon in its
// host part, the mark of an IPv6 address written without brackets.
func unbracketedIPv6(target string) bool {
	_, rest, _ := strings.Cut(target, ":")
	hostport, _, _ := strings.Cut(rest, ";")
	if at := strings.LastIndex(hostport, "@"); at >= 0 {
		hostport = hostport[at+1:]
	}
	return !strings.HasPrefix(hostport, "[") && strings.Count(hostport, ":") > 1
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
				ck.bad(fmt.Sprintf("%s.headers[%d]", k, j), "%q must be \"Name: value\" on one line", h)
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
	paired := len(p.Paths) > 0
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
	oneOf(ck, "failover.mode", f.Mode, failover.FailoverFirst.String(), failover.RestartFirst.String())
	oneOf(ck, "failover.failback", f.Failback, failover.FailbackOff.String(), failover.FailbackAuto.String())
	if f.RestartGrace <= 0 {
		ck.bad("failover.restart_grace", "%s must be positive", ck.show("failover.restart_grace", f.RestartGrace))
	}
	if f.PreferredNode != "" && !nodeNameRE.MatchString(f.PreferredNode) {
		ck.bad("failover.preferred_node", "%q is not a node name", f.PreferredNode)
	}
	if f.Failback == failover.FailbackAuto.String() && f.PreferredNode == "" {
		ck.bad("failover.preferred_node", `is required with failback "auto": the node the primary role returns to`)
	}
	for i, tb := range f.TieBreakers {
		ck.address(fmt.Sprintf("failover.tie_breakers[%d]", i), tb)
	}
	if paired && len(f.TieBreakers) == 0 {
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

// takeoverESL checks pbx.takeover_esl: commands for the first esl probe's
// event socket, sent after a takeover.
func (ck *checker) takeoverESL(c *Config, paired bool) {
	p := &c.PBX
	if len(p.TakeoverESL) > 0 {
		switch {
		case !paired:
			ck.bad("pbx.takeover_esl", "is set but peer.paths is not: the commands are sent when a node of a pair takes over")
		case len(c.Probes.ESL) == 0:
			ck.bad("pbx.takeover_esl", "needs an esl probe (probes.esl): the commands go to the first one's address with its password")
		}
		for i, cmd := range p.TakeoverESL {
			k := fmt.Sprintf("pbx.takeover_esl[%d]", i)
			switch {
			case strings.TrimSpace(cmd) == "":
				ck.bad(k, "is empty: give a FreeSWITCH API command, e.g. \"sofia recover\"")
			case strings.ContainsAny(cmd, "\r\n"):
				ck.bad(k, "%q spans several lines: give one API command per list item", cmd)
			}
		}
	}
	if p.TakeoverESLTimeout <= 0 {
		ck.bad("pbx.takeover_esl_timeout", "%s must be positive", ck.show("pbx.takeover_esl_timeout", p.TakeoverESLTimeout))
	}
}

// database checks the database section: the dbrole package holds the rules
// of the keys it takes; the file adds that the role moves only in a pair and
// with a pg probe, that max_lag_bytes is at least 1, and that a zero where
// dbrole would read its default is a mistake.
func (ck *checker) database(c *Config, paired bool) {
	db := &c.Database
	if db.DSN == "" {
		return
	}
	if !paired {
		ck.bad("database.dsn", "is set but peer.paths is not: the database role moves only between the nodes of a pair")
	}
	if len(c.Probes.PG) == 0 {
		ck.bad("database.dsn", "needs a pg probe of the same server (probes.pg): its role and WAL position go into every heartbeat")
	}
	if db.MaxLagBytes < 1 {
		ck.bad("database.max_lag_bytes", "%d must be at least 1 (allow_lag: true promotes however far behind)", db.MaxLagBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"promote_timeout", db.PromoteTimeout}, {"demote_timeout", db.DemoteTimeout}, {"stop_timeout", db.StopTimeout}} {
		if d.v == 0 {
			ck.bad("database."+d.key, "%s must be positive", d.v)
		}
	}
	for _, p := range c.DBRoleConfig().Problems() {
		ck.bad("database."+p.Key, "%s", p.Msg)
	}
}
