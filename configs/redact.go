package configs

import (
	"fmt"

	"net/url"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Redacted is what Redacted puts in place of a secret.
const Redacted = "REDACTED"

// secretKeys is the one rule of what may be shown of the configuration:
// every key that may hold a secret, and how Redacted hides it (the kinds
// of redactors). `config show` and every other display of the config go
// through Redacted; TestSecretKeysListed fails when a key whose name says
// it may hold a secret is missing here.
var secretKeys = map[string]string{
	"probes.esl[].password":       "value",
	"probes.ami[].secret":         "value",
	"probes.pg[].dsn":             "dsn",
	"probes.mysql[].dsn":          "mysqldsn",
	"probes.exec[].command":       "argv",
	"pbx.supervise.command":       "argv",
	"pbx.supervise.env":           "env",
	"pbx.supervise.start_command": "argv",
	"pbx.supervise.stop_command":  "argv",
	"alerts.endpoints[].url":      "url",
	"alerts.endpoints[].headers":  "headers",
	"alerts.endpoints[].secret":   "value",
	"failover.fence_command":      "argv",
	"vip.script.up":               "argv",
	"vip.script.down":             "argv",
	"vip.script.check":            "argv",
	"database.dsn":                "anydsn",
	"database.demote_command":     "argv",
	"database.stop_command":       "argv",
	"database.env":                "env",
	"database.start_command":      "argv",
	"database.primary_conninfo":   "dsn",
	"hooks.takeover[].command":    "argv",
	"hooks.release[].command":     "argv",
}

// redactors hide one string of a secret key, by its kind: value (all of
// it), dsn (the passwords of a libpq DSN), mysqldsn (the password of a Go
// MySQL driver DSN), anydsn (either, as the DSN looks), url (the password, path and
// query of a URL), headers (each header's value), env (each KEY=VALUE's
// value), argv (a command's arguments; its program, the first entry, is
// kept). The list kinds apply to each entry.
var redactors = map[string]func(string) string{
	"value":    redact,
	"dsn":      RedactDSN,
	"mysqldsn": RedactMySQLDSN,
	"anydsn":   redactAnyDSN,
	"url":      RedactURL,
	"headers":  RedactHeader,
	"env":      RedactEnv,
	"argv":     redact,
}

// Redacted returns a copy of c for display with every key of secretKeys
// hidden as its kind says. c is not changed.
func (c *Config) Redacted() *Config {
	r := *c
	redactStruct(reflect.ValueOf(&r).Elem(), "")
	return &r
}

// redactStruct hides the secrets of v, an addressable struct that is a
// shallow copy, whose keys start with prefix: lists it descends into are
// copied before they are changed.
func redactStruct(v reflect.Value, prefix string) {
	for _, f := range fieldsOf(v.Type()) {
		key := prefix + f.key
		fv := v.FieldByIndex(f.index)
		switch kind, secret := secretKeys[key]; {
		case secret:
			fv.Set(reflect.ValueOf(redactField(kind, fv.Interface())))
		case isList(f.typ):
			cp := reflect.MakeSlice(f.typ, fv.Len(), fv.Len())
			reflect.Copy(cp, fv)
			fv.Set(cp)
			for i := range cp.Len() {
				redactStruct(cp.Index(i), key+"[].")
			}
		case isMapping(f.typ):
			redactStruct(fv, key+".")
		}
	}
}

// redactField hides v, a string or a list of strings, as kind says. An
// unknown kind hides everything: a typo must not show a secret.
func redactField(kind string, v any) any {
	f, ok := redactors[kind]
	if !ok {
		f = redact
	}
	switch v := v.(type) {
	case string:
		return f(v)
	case []string:
		if v == nil {
			return v
		}
		out := make([]string, len(v))
		for i, s := range v {
			if kind == "argv" && i == 0 {
				out[i] = s
				continue
			}
			out[i] = f(s)
		}
		return out
	}
	panic(fmt.Sprintf("configs: secret key of kind %q holds a %T: only strings and lists of strings can be redacted", kind, v))
}

// RedactArgv returns a command for display: its program and, in place of
// each argument, Redacted; arguments often carry credentials (a fence
// agent's -p, a plugin's password).
func RedactArgv(argv []string) []string { return redactField("argv", argv).([]string) }

// RedactEnv hides the value of a KEY=VALUE entry; an entry without "=" is
// hidden whole.
func RedactEnv(kv string) string {
	k, _, ok := strings.Cut(kv, "=")
	if !ok {
		return redact(kv)
	}
	return k + "=" + Redacted
}

// RedactHeader hides the value of a "Name: value" header (Authorization:
// Bearer ...); text without ":" is hidden whole.
func RedactHeader(h string) string {
	name, _, ok := strings.Cut(h, ":")
	if !ok {
		return redact(h)
	}
	return name + ": " + Redacted
}

// RedactURL hides what a URL may carry as a credential — the password of
// its user info, its path (webhook URLs are often a token: /services/T0/B0/
// XXXX) and its query (?token=) — keeping the scheme, user, host and port
// that say where it goes. A URL that does not parse is hidden whole.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	if u.Path != "" && u.Path != "/" {
		u.Path, u.RawPath = "/"+Redacted, ""
	}
	if u.RawQuery != "" {
		u.RawQuery = Redacted
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// dsnPasswordRE finds the value of libpq's secret keys, password and
// sslpassword (the client key's passphrase), in a key=value string.
var dsnPasswordRE = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// dsnSecretParams are the URL query parameters of a libpq URL that hold a
// secret.
var dsnSecretParams = []string{"password", "sslpassword"}

// RedactDSN replaces the passwords in a libpq URL (user:password@, or a
// password= or sslpassword= query parameter) or key=value string with
// Redacted.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return Redacted // cannot find the password in it, so show none of it
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
		q := u.Query()
		changed := false
		for _, k := range dsnSecretParams {
			if q.Has(k) {
				q.Set(k, Redacted)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return dsnPasswordRE.ReplaceAllString(dsn, "${1}"+Redacted)
}

// RedactMySQLDSN replaces the password in a Go MySQL driver DSN
// (user:password@tcp(host:port)/db) with Redacted; a DSN that does not
// parse is replaced whole.
func RedactMySQLDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return Redacted
	}
	if mc.Passwd != "" {
		mc.Passwd = Redacted
	}
	return mc.FormatDSN()
}

// redactAnyDSN hides the password of database.dsn, which is a libpq DSN
// (a postgres:// URL or key=value pairs) or, with database.kind mariadb or
// mysql, a MySQL driver DSN (user:password@tcp(host)/db).
func redactAnyDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || dsnPasswordRE.MatchString(dsn) || !strings.Contains(dsn, "@") {
		return RedactDSN(dsn)
	}
	return RedactMySQLDSN(dsn)
}
