package configs

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
)

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
	each := func(kind probe.Kind, n int, sched func(i int) *Schedule, check func(key string, i int)) {
		for i := range n {
			key := fmt.Sprintf("probes.%s[%d]", kind, i)
			name(key, sched(i))
			ck.schedule(key, sched(i))
			check(key, i)
		}
	}
	each(probe.KindSIP, len(p.SIP), func(i int) *Schedule { return &p.SIP[i].Schedule }, func(k string, i int) { ck.sip(k, &p.SIP[i]) })
	each(probe.KindESL, len(p.ESL), func(i int) *Schedule { return &p.ESL[i].Schedule }, func(k string, i int) { ck.esl(k, &p.ESL[i]) })
	each(probe.KindPG, len(p.PG), func(i int) *Schedule { return &p.PG[i].Schedule }, func(k string, i int) { ck.pg(k, &p.PG[i]) })
	each(probe.KindMySQL, len(p.MySQL), func(i int) *Schedule { return &p.MySQL[i].Schedule }, func(k string, i int) { ck.mysql(k, &p.MySQL[i]) })
	each(probe.KindAMI, len(p.AMI), func(i int) *Schedule { return &p.AMI[i].Schedule }, func(k string, i int) { ck.ami(k, &p.AMI[i]) })
	each(probe.KindTCP, len(p.TCP), func(i int) *Schedule { return &p.TCP[i].Schedule }, func(k string, i int) { ck.address(k+".address", p.TCP[i].Address) })
	each(probe.KindExec, len(p.Exec), func(i int) *Schedule { return &p.Exec[i].Schedule }, func(k string, i int) { ck.exec(k, &p.Exec[i]) })
	if len(p.SIP)+len(p.ESL)+len(p.PG)+len(p.MySQL)+len(p.AMI)+len(p.TCP)+len(p.Exec) == 0 {
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
	case s.Timeout > s.Interval && s.Interval >= MinInterval:
		ck.bad(to, "%s must not be longer than interval %s", ck.show(to, s.Timeout), ck.show(iv, s.Interval))
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
			ck.bad(key+".dsn", "does not parse: %v", probe.PGDSNError(err))
		}
	}
	oneOf(ck, key+".expect_role", p.ExpectRole, string(probe.PGRolePrimary), string(probe.PGRoleStandby), string(probe.PGRoleAny))
	if !validTable(p.Table) {
		ck.bad(key+".table", "%q must be a plain lowercase identifier (letters, digits, \"_\", at most 63)", p.Table)
	}
	if p.FreshConnEvery < 0 {
		ck.bad(key+".fresh_conn_every", "%s must not be negative (0 turns fresh connections off)", p.FreshConnEvery)
	}
}

func (ck *checker) mysql(key string, p *MySQLProbe) {
	dsnDB, parsed := "", false
	switch {
	case strings.TrimSpace(p.DSN) == "":
		ck.bad(key+".dsn", `is required, e.g. "pbxha:secret@tcp(127.0.0.1:3306)/pbxha"`)
	default:
		if mc, err := probe.ParseMySQLDSN(p.DSN); err != nil { // as the mysql probe reads it
			ck.bad(key+".dsn", "does not parse: %v", err)
		} else {
			dsnDB, parsed = mc.DBName, true
		}
	}
	oneOf(ck, key+".expect_role", p.ExpectRole, string(probe.MySQLRolePrimary), string(probe.MySQLRoleReplica), string(probe.MySQLRoleAny))
	db, table, qualified := strings.Cut(p.Table, ".")
	if !qualified {
		db, table = "", p.Table
	}
	switch {
	case !validTable(table) || (qualified && !validTable(db)):
		ck.bad(key+".table", "%q must be a plain lowercase identifier (letters, digits, \"_\", at most 63), or database.table", p.Table)
	case parsed:
		if _, err := probe.QuoteMySQLTable(p.Table, dsnDB); err != nil {
			ck.bad(key+".table", "%v", problemText(err))
		}
	}
}

// problemText drops the "table %q: " prefix a probe error repeats.
func problemText(err error) string {
	_, after, ok := strings.Cut(err.Error(), ": ")
	if !ok {
		return err.Error()
	}
	return after
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
