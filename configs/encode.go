package configs

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted is what Redacted puts in place of a secret.
const Redacted = "REDACTED"

// Marshal renders c as YAML in the file's layout: keys in schema order,
// durations as text ("500ms"), empty probe lists left out. The result loads
// back into an equal Config.
func Marshal(c *Config) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(encode(reflect.ValueOf(c).Elem())); err != nil {
		return nil, fmt.Errorf("configs: marshal %s: %w", c.Source, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: marshal %s: %w", c.Source, err)
	}
	return b.Bytes(), nil
}

func encode(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case isDuration(t):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v.Interface())}
	case isMapping(t):
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(t) {
			fv := v.FieldByIndex(f.index)
			if isList(f.typ) && fv.Len() == 0 {
				continue
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.key}, encode(fv))
		}
		return m
	case t.Kind() == reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		if t.Elem().Kind() == reflect.String {
			s.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			s.Content = append(s.Content, encode(v.Index(i)))
		}
		return s
	case t.Kind() == reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	default:
		n := &yaml.Node{}
		if err := n.Encode(v.Interface()); err != nil {
			// Only ints, floats and bools get here, and they always encode.
			panic(fmt.Sprintf("configs: encode %s: %v", t, err))
		}
		return n
	}
}

// Redacted returns a copy of c for display, every field with a secret tag
// hidden as its kind says (redactors): one rule for `config show` and any
// other place that shows the configuration. c is not changed.
func (c *Config) Redacted() *Config {
	r := *c
	redactStruct(reflect.ValueOf(&r).Elem())
	return &r
}

// redactStruct hides the secrets of v, an addressable struct that is a
// shallow copy: lists it descends into are copied before they are changed.
func redactStruct(v reflect.Value) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		switch {
		case f.secret != "":
			fv.Set(reflect.ValueOf(redactField(f.secret, fv.Interface())))
		case isList(f.typ):
			cp := reflect.MakeSlice(f.typ, fv.Len(), fv.Len())
			reflect.Copy(cp, fv)
			fv.Set(cp)
			for i := range cp.Len() {
				redactStruct(cp.Index(i))
			}
		case isMapping(f.typ):
			redactStruct(fv)
		}
	}
}

// redactors hide one string of a secret-tagged field, by the tag's kind.
// The list kinds (headers, env, argv) apply to each entry; argv keeps the
// program, its first entry.
var redactors = map[string]func(string) string{
	"value":   redact,
	"dsn":     RedactDSN,
	"url":     RedactURL,
	"headers": RedactHeader,
	"env":     RedactEnv,
	"argv":    redact,
}

// redactField hides v, a string or a list of strings, as kind says. An
// unknown kind hides everything: a typo in a tag must not show a secret.
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
	panic(fmt.Sprintf("configs: secret tag %q on a %T: only strings and lists of strings can be redacted", kind, v))
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
