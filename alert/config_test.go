package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
)

func validConfig() Config {
	return Config{
		Dir: "/var/lib/pbxha/outbox",
		Endpoints: []Endpoint{
			{Name: "ops", URL: "https://hooks.example.net/pbxha", Format: FormatJSON, Secret: "s"},
			{Name: "chat", URL: "http://127.0.0.1:8065/hooks/abc", Format: FormatSlack, Kinds: []string{event.Failover}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "every kind of event.Kinds is accepted", change: func(c *Config) { c.Endpoints[1].Kinds = event.Kinds }},
		{name: "no endpoints needs no dir", change: func(c *Config) { c.Endpoints, c.Dir = nil, "" }},
		{name: "no dir", change: func(c *Config) { c.Dir = "" }, want: []string{"alert: config dir: is empty"}},
		{name: "empty name", change: func(c *Config) { c.Endpoints[0].Name = "" }, want: []string{"endpoints[0].name: is empty"}},
		{name: "name with slash", change: func(c *Config) { c.Endpoints[0].Name = "../etc" }, want: []string{`endpoints[0].name: "../etc"`}},
		{name: "duplicate name", change: func(c *Config) { c.Endpoints[1].Name = "ops" }, want: []string{`endpoints[1].name: "ops" is already the name of another endpoint`}},
		{name: "ftp url", change: func(c *Config) { c.Endpoints[0].URL = "ftp://x/y" }, want: []string{`endpoints[0].url: has scheme "ftp"; want an http:// or https:// URL`}},
		{name: "url without host", change: func(c *Config) { c.Endpoints[0].URL = "http:///path" }, want: []string{`endpoints[0].url: has no host; want an http:// or https:// URL`}},
		{name: "empty url", change: func(c *Config) { c.Endpoints[1].URL = "" }, want: []string{"endpoints[1].url: is empty"}},
		{name: "unknown format", change: func(c *Config) { c.Endpoints[0].Format = "teams" }, want: []string{`endpoints[0].format: "teams"`}},
		{name: "unknown kind", change: func(c *Config) { c.Endpoints[1].Kinds = []string{"failover", "reboot"} }, want: []string{`endpoints[1].kinds[1]: "reboot" is not an event kind`}},
		{name: "bad severity", change: func(c *Config) { c.Endpoints[0].MinSeverity = 7 }, want: []string{"endpoints[0].min_severity"}},
		{name: "negative timeout", change: func(c *Config) { c.Endpoints[0].Timeout = -time.Second }, want: []string{"endpoints[0].timeout: -1s must be positive"}},
		{name: "bad header", change: func(c *Config) { c.Endpoints[0].Headers = map[string]string{"Bad Header": "x"} }, want: []string{`endpoints[0].headers: "Bad Header"`}},
		{name: "negative max age", change: func(c *Config) { c.MaxAge = -time.Hour }, want: []string{"max_age: -1h0m0s must be positive"}},
		{name: "backoff max below initial", change: func(c *Config) { c.BackoffInitial, c.BackoffMax = time.Minute, time.Second }, want: []string{"backoff_max: 1s must not be shorter than backoff_initial 1m0s"}},
		{name: "negative max queued", change: func(c *Config) { c.MaxQueued = -1 }, want: []string{"max_queued: -1 must be at least 1"}},
		{name: "negative flap threshold", change: func(c *Config) { c.FlapThreshold = -2 }, want: []string{"flap_threshold: -2 must be at least 2"}},
		{name: "bad external url", change: func(c *Config) { c.ExternalURL = "grafana" }, want: []string{"external_url"}},
		{name: "every problem reported", change: func(c *Config) { c.Dir = ""; c.Endpoints[0].URL = ""; c.MaxQueued = -1 },
			want: []string{"dir: is empty", "endpoints[0].url: is empty", "max_queued: -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestEndpointWants(t *testing.T) {
	ep := Endpoint{Kinds: []string{event.Failover, event.ProbeState}, MinSeverity: event.Warning}
	tests := []struct {
		name string
		e    event.Event
		want bool
	}{
		{name: "listed kind at min severity", e: event.Event{Kind: event.Failover, Severity: event.Warning}, want: true},
		{name: "listed kind above min severity", e: event.Event{Kind: event.ProbeState, Severity: event.Critical}, want: true},
		{name: "listed kind below min severity", e: event.Event{Kind: event.ProbeState, Severity: event.Info}, want: false},
		{name: "kind not listed", e: event.Event{Kind: event.RoleChange, Severity: event.Critical}, want: false},
		{name: "test event passes every filter", e: event.Event{Kind: event.Test, Severity: event.Info}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ep.Wants(tt.e); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if !(Endpoint{}).Wants(event.Event{Kind: event.Maintenance}) {
		t.Errorf("an endpoint without kinds: got false, want true for every kind")
	}
}
