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

// Redacted returns a copy of c with passwords, secrets and the password in
// every DSN replaced by Redacted, for display.
func (c *Config) Redacted() *Config {
	r := *c
	r.Probes.ESL = append([]ESLProbe(nil), c.Probes.ESL...)
	for i := range r.Probes.ESL {
		r.Probes.ESL[i].Password = redact(r.Probes.ESL[i].Password)
	}
	r.Probes.AMI = append([]AMIProbe(nil), c.Probes.AMI...)
	for i := range r.Probes.AMI {
		r.Probes.AMI[i].Secret = redact(r.Probes.AMI[i].Secret)
	}
	r.Probes.PG = append([]PGProbe(nil), c.Probes.PG...)
	for i := range r.Probes.PG {
		r.Probes.PG[i].DSN = RedactDSN(r.Probes.PG[i].DSN)
	}
	r.Database.DSN = RedactDSN(r.Database.DSN)
	r.Database.PrimaryConninfo = RedactDSN(r.Database.PrimaryConninfo)
	r.Alerts.Endpoints = append([]Endpoint(nil), c.Alerts.Endpoints...)
	for i := range r.Alerts.Endpoints {
		e := &r.Alerts.Endpoints[i]
		e.Secret = redact(e.Secret)
		e.Headers = append([]string(nil), e.Headers...)
		for j, h := range e.Headers {
			// Header values often carry tokens (Authorization: Bearer ...).
			if name, _, ok := strings.Cut(h, ":"); ok {
				e.Headers[j] = name + ": " + Redacted
			}
		}
	}
	return &r
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

var dsnPasswordRE = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// RedactDSN replaces the password in a libpq URL (user:password@, or a
// password= query parameter) or key=value string with Redacted.
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
		if q.Has("password") {
			q.Set("password", Redacted)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return dsnPasswordRE.ReplaceAllString(dsn, "${1}"+Redacted)
}
