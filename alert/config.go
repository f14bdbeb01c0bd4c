package alert

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/problem"
)

// Format is the payload shape an endpoint expects.
type Format string

// Formats an endpoint may use.
const (
	FormatJSON         Format = "json"         // pbxha's own versioned schema
	FormatSlack        Format = "slack"        // Slack incoming webhook; Mattermost and Rocket.Chat accept it too
	FormatAlertmanager Format = "alertmanager" // the Alertmanager webhook payload, version 4
)

// Defaults applied by New and Send where a field is zero.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxAge         = 24 * time.Hour
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultMaxQueued      = 10000
	DefaultFlapWindow     = 5 * time.Minute
	DefaultFlapThreshold  = 4
)

// Endpoint is one webhook receiver.
type Endpoint struct {
	Name        string            // unique; names the outbox folder, logs and status
	URL         string            // http or https
	Format      Format            // default FormatJSON
	Kinds       []string          // event kinds to send; empty: every kind
	MinSeverity event.Severity    // events below it are not sent
	Timeout     time.Duration     // for one POST, connect to last byte; default 5s
	Headers     map[string]string // added to every request (Authorization...)
	Secret      string            // HMAC-SHA256 key for X-Pbxha-Signature; empty: unsigned
}

// Config configures a Dispatcher.
type Config struct {
	Endpoints []Endpoint
	Dir       string // outbox directory, one folder per endpoint inside (the daemon uses <state_dir>/outbox)

	MaxAge         time.Duration // an undelivered event is dropped this long after it was queued; default 24h
	BackoffInitial time.Duration // first retry delay; default 1s
	BackoffMax     time.Duration // retry delays double up to this; default 5m
	MaxQueued      int           // events queued per endpoint before the oldest lowest-severity is dropped; default 10000

	FlapWindow    time.Duration // default 5m
	FlapThreshold int           // probe_state changes of one probe within FlapWindow before damping starts; default 4

	ExternalURL string // optional link to this node (status page, Grafana...) used by the slack and alertmanager formats
}

// endpointName is what an endpoint name may be, up to 64 bytes: it names
// the endpoint's outbox folder. The length is checked apart
// (validEndpointName): a bounded repeat ({0,63}) compiled into 22 KiB of
// program, live for the whole run.
var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// validEndpointName reports whether s is 1-64 lowercase letters, digits,
// "_", "." or "-", starting with a letter or digit.
func validEndpointName(s string) bool { return len(s) <= 64 && endpointName.MatchString(s) }

// Problem is one thing wrong with a Config: the config key below alerts
// (max_age, endpoints[0].url...) and what is wrong with it, lowercase, as
// pbxha's config check prints it.
type Problem = problem.Problem

// Validate reports every problem in c as one error, or nil (see Problems).
func (c Config) Validate() error {
	return problem.List(c.Problems()).Err("alert: config ")
}

// Problems lists every problem in c, each naming its key: an endpoint with
// no, a malformed or a duplicate name, a URL that is not absolute http(s),
// an unknown format or kind, a severity out of range, a negative duration or
// count, a backoff_max below backoff_initial, no outbox directory. Zero
// values are read as their defaults. These are the only rules about these
// keys: pbxha's config check reports them as they are.
func (c Config) Problems() []Problem {
	var ps problem.List
	bad := ps.Add
	if c.Dir == "" && len(c.Endpoints) > 0 {
		bad("dir", "is empty; the outbox needs a directory")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max_age", c.MaxAge}, {"backoff_initial", c.BackoffInitial}, {"flap_window", c.FlapWindow}} {
		if d.v < 0 {
			bad(d.name, "%s must be positive", d.v)
		}
	}
	switch {
	case c.BackoffMax < 0:
		bad("backoff_max", "%s must be positive", c.BackoffMax)
	case c.BackoffInitial > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffInitial:
		bad("backoff_max", "%s must not be shorter than backoff_initial %s", c.BackoffMax, c.BackoffInitial)
	}
	if c.MaxQueued < 0 {
		bad("max_queued", "%d must be at least 1", c.MaxQueued)
	}
	if c.FlapThreshold < 0 || c.FlapThreshold == 1 {
		bad("flap_threshold", "%d must be at least 2", c.FlapThreshold)
	}
	if c.ExternalURL != "" {
		if err := checkURL(c.ExternalURL); err != nil {
			bad("external_url", "%v", err)
		}
	}
	seen := map[string]bool{}
	for i, ep := range c.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		switch {
		case ep.Name == "":
			bad(field+".name", "is empty")
		case !validEndpointName(ep.Name):
			bad(field+".name", "%q must be 1-64 lowercase letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit", ep.Name)
		case seen[ep.Name]:
			bad(field+".name", "%q is already the name of another endpoint", ep.Name)
		}
		seen[ep.Name] = true
		if err := checkURL(ep.URL); err != nil {
			bad(field+".url", "%v", err)
		}
		switch ep.Format {
		case "", FormatJSON, FormatSlack, FormatAlertmanager:
		default:
			bad(field+".format", "%q must be one of json, slack, alertmanager", ep.Format)
		}
		if ep.MinSeverity < event.Info || ep.MinSeverity > event.Critical {
			bad(field+".min_severity", "%d must be info, warning or critical", int(ep.MinSeverity))
		}
		for j, k := range ep.Kinds {
			if !slices.Contains(event.Kinds, k) {
				bad(fmt.Sprintf("%s.kinds[%d]", field, j), "%q is not an event kind; the kinds are %s", k, strings.Join(event.Kinds, ", "))
			}
		}
		if ep.Timeout < 0 {
			bad(field+".timeout", "%s must be positive", ep.Timeout)
		}
		names := slices.Sorted(maps.Keys(ep.Headers))
		for _, k := range names {
			if !validHeaderName(k) {
				bad(field+".headers", "%q is not a valid header name", k)
			}
		}
	}
	return ps
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("is empty; want an http:// or https:// URL")
	}
	// The URL is not quoted: its path or query may be a token.
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("does not parse as a URL; want an http:// or https:// URL (not shown: it may hold a token)")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("has scheme %q; want an http:// or https:// URL", u.Scheme)
	case u.Host == "":
		return errors.New("has no host; want an http:// or https:// URL")
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffInitial)
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	if c.FlapWindow == 0 {
		c.FlapWindow = DefaultFlapWindow
	}
	if c.FlapThreshold == 0 {
		c.FlapThreshold = DefaultFlapThreshold
	}
	eps := make([]Endpoint, len(c.Endpoints))
	for i, ep := range c.Endpoints {
		eps[i] = ep.withDefaults()
	}
	c.Endpoints = eps
	return c
}

func (ep Endpoint) withDefaults() Endpoint {
	if ep.Format == "" {
		ep.Format = FormatJSON
	}
	if ep.Timeout == 0 {
		ep.Timeout = DefaultTimeout
	}
	return ep
}

// Wants reports whether e passes the endpoint's kind and severity filter. The
// test kind passes every kind filter, so `pbxha alert test` reaches every
// endpoint.
func (ep Endpoint) Wants(e event.Event) bool {
	if e.Severity < ep.MinSeverity && e.Kind != event.Test {
		return false
	}
	if len(ep.Kinds) == 0 || e.Kind == event.Test {
		return true
	}
	for _, k := range ep.Kinds {
		if k == e.Kind {
			return true
		}
	}
	return false
}
