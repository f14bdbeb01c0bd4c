package alert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
)

// The structs below are written from the formats' documentation, not from the
// encoder's types, and every decode refuses unknown fields.

// jsonV1 is pbxha's json format, schema version 1 (README, Alerts).
type jsonV1 struct {
	SchemaVersion int            `json:"schema_version"`
	ID            string         `json:"id"`
	Kind          string         `json:"kind"`
	Severity      string         `json:"severity"`
	Node          string         `json:"node"`
	Cluster       string         `json:"cluster"`
	Time          time.Time      `json:"time"`
	Summary       string         `json:"summary"`
	Details       map[string]any `json:"details"`
	Resolved      bool           `json:"resolved"`
}

// amWebhookV4 is the Alertmanager webhook payload, version 4, as documented
// for webhook_config (prometheus.io/docs/alerting/latest/configuration).
type amWebhookV4 struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

// slackMessage holds the incoming-webhook fields that Slack, Mattermost and
// Rocket.Chat all accept: text and attachments with fallback, color, title,
// title_link, text, fields and footer.
type slackMessage struct {
	Text        string `json:"text"`
	Attachments []struct {
		Fallback  string `json:"fallback"`
		Color     string `json:"color"`
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Text      string `json:"text"`
		Fields    []struct {
			Title string `json:"title"`
			Value string `json:"value"`
			Short bool   `json:"short"`
		} `json:"fields"`
		Footer string `json:"footer"`
	} `json:"attachments"`
}

func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123000000, time.UTC)

func failoverEvent() event.Event {
	return event.Event{
		ID: event.NewID(t0), Kind: event.Failover, Severity: event.Critical,
		Node: "node-b", Cluster: "prod", Time: t0,
		Summary: "node-b took over from node-a: sip probe failed <3 times>",
		Details: map[string]any{
			"from":     "node-a",
			"epoch":    float64(7),
			"timeline": []any{map[string]any{"step": "db", "ms": float64(120)}, map[string]any{"step": "vip", "ms": float64(35)}},
		},
	}
}

func TestEncodeJSON(t *testing.T) {
	e := failoverEvent()
	b, err := Encode(FormatJSON, e, "")
	if err != nil {
		t.Fatal(err)
	}
	var got jsonV1
	strictDecode(t, b, &got)
	want := jsonV1{SchemaVersion: 1, ID: e.ID, Kind: "failover", Severity: "critical", Node: "node-b", Cluster: "prod", Time: t0, Summary: e.Summary}
	got.Details = nil
	if !got.Time.Equal(want.Time) {
		t.Errorf("time: got %s, want %s", got.Time, want.Time)
	}
	got.Time = want.Time
	if got.SchemaVersion != want.SchemaVersion || got.ID != want.ID || got.Kind != want.Kind || got.Severity != want.Severity ||
		got.Node != want.Node || got.Cluster != want.Cluster || got.Summary != want.Summary || got.Resolved {
		t.Errorf("got %+v, want %+v", got, want)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	tl, _ := raw["details"].(map[string]any)["timeline"].([]any)
	if len(tl) != 2 {
		t.Errorf("details.timeline: got %v, want the 2 steps", raw["details"])
	}
	for _, key := range []string{"details", "resolved", "schema_version"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("key %q: missing, want it always present", key)
		}
	}
	// Details is an object even when the event has none.
	b, _ = Encode(FormatJSON, event.Event{ID: "x", Kind: event.Test, Time: t0}, "")
	if !strings.Contains(string(b), `"details":{}`) {
		t.Errorf("no details: got %s, want \"details\":{}", b)
	}
}

func TestEncodeAlertmanager(t *testing.T) {
	probeDown := event.Event{ID: "a1", Kind: event.ProbeState, Severity: event.Critical, Node: "node-a", Cluster: "prod", Time: t0,
		Summary: "probe sip failed", Details: map[string]any{"probe": "sip", "to": "failed"}}
	probeUp := probeDown
	probeUp.ID, probeUp.Severity, probeUp.Resolved, probeUp.Time = "a2", event.Info, true, t0.Add(time.Minute)
	probeUp.Details = map[string]any{"probe": "sip", "to": "ok"}
	tests := []struct {
		name       string
		e          event.Event
		wantStatus string
		wantEnds   time.Time
		wantLabels map[string]string
	}{
		{name: "firing", e: probeDown, wantStatus: "firing", wantEnds: time.Time{},
			wantLabels: map[string]string{"alertname": "pbxha_probe_state", "severity": "critical", "node": "node-a", "cluster": "prod", "probe": "sip"}},
		{name: "resolved", e: probeUp, wantStatus: "resolved", wantEnds: t0.Add(time.Minute),
			wantLabels: map[string]string{"alertname": "pbxha_probe_state", "severity": "info", "node": "node-a", "cluster": "prod", "probe": "sip"}},
		{name: "no probe label", e: failoverEvent(), wantStatus: "firing",
			wantLabels: map[string]string{"alertname": "pbxha_failover", "severity": "critical", "node": "node-b", "cluster": "prod"}},
	}
	fingerprints := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(FormatAlertmanager, tt.e, "http://pbxha.example.net:9108/")
			if err != nil {
				t.Fatal(err)
			}
			var got amWebhookV4
			strictDecode(t, b, &got)
			if got.Version != "4" || got.Status != tt.wantStatus || got.TruncatedAlerts != 0 || got.Receiver == "" || got.GroupKey == "" {
				t.Errorf("envelope: got version %q status %q truncated %d receiver %q groupKey %q, want 4, %s, 0, set, set",
					got.Version, got.Status, got.TruncatedAlerts, got.Receiver, got.GroupKey, tt.wantStatus)
			}
			if got.ExternalURL != "http://pbxha.example.net:9108/" {
				t.Errorf("externalURL: got %q, want the configured one", got.ExternalURL)
			}
			if len(got.Alerts) != 1 {
				t.Fatalf("alerts: got %d, want 1", len(got.Alerts))
			}
			a := got.Alerts[0]
			if a.Status != tt.wantStatus {
				t.Errorf("alert status: got %q, want %q", a.Status, tt.wantStatus)
			}
			if len(a.Labels) != len(tt.wantLabels) {
				t.Errorf("labels: got %v, want %v", a.Labels, tt.wantLabels)
			}
			for k, v := range tt.wantLabels {
				if a.Labels[k] != v {
					t.Errorf("label %s: got %q, want %q", k, a.Labels[k], v)
				}
			}
			if a.Annotations["summary"] != tt.e.Summary || a.Annotations["description"] == "" {
				t.Errorf("annotations: got %v, want summary %q and a description", a.Annotations, tt.e.Summary)
			}
			if !a.StartsAt.Equal(tt.e.Time) || !a.EndsAt.Equal(tt.wantEnds) {
				t.Errorf("startsAt %s endsAt %s: want %s and %s", a.StartsAt, a.EndsAt, tt.e.Time, tt.wantEnds)
			}
			if len(a.Fingerprint) != 16 {
				t.Errorf("fingerprint: got %q, want 16 hex digits", a.Fingerprint)
			}
			if got.CommonLabels["alertname"] != tt.wantLabels["alertname"] || got.GroupLabels["alertname"] != tt.wantLabels["alertname"] {
				t.Errorf("group/common labels: got %v / %v, want alertname %s", got.GroupLabels, got.CommonLabels, tt.wantLabels["alertname"])
			}
			fingerprints[tt.name] = a.Fingerprint
		})
	}
	if fingerprints["firing"] != fingerprints["resolved"] {
		t.Errorf("fingerprints: firing %s, resolved %s, want equal so receivers pair them", fingerprints["firing"], fingerprints["resolved"])
	}
	if fingerprints["firing"] == fingerprints["no probe label"] {
		t.Errorf("fingerprints of different alerts: both %s, want different", fingerprints["firing"])
	}
}

func TestEncodeSlack(t *testing.T) {
	tests := []struct {
		name      string
		e         event.Event
		wantColor string
		wantText  string
	}{
		{name: "critical", e: failoverEvent(), wantColor: colorCritical, wantText: "[CRITICAL] failover on node-b (prod): node-b took over from node-a: sip probe failed &lt;3 times&gt;"},
		{name: "warning", e: event.Event{ID: "w", Kind: event.PeerPathLost, Severity: event.Warning, Node: "n", Time: t0, Summary: "path eth1 silent"},
			wantColor: colorWarning, wantText: "[WARNING] peer_path_lost on n: path eth1 silent"},
		{name: "resolved", e: event.Event{ID: "r", Kind: event.ProbeState, Severity: event.Warning, Node: "n", Cluster: "c", Time: t0, Summary: "sip ok", Resolved: true},
			wantColor: colorOK, wantText: "[RESOLVED] probe_state on n (c): sip ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(FormatSlack, tt.e, "https://status.example.net")
			if err != nil {
				t.Fatal(err)
			}
			var got slackMessage
			strictDecode(t, b, &got)
			if got.Text != tt.wantText {
				t.Errorf("text: got %q, want %q", got.Text, tt.wantText)
			}
			if len(got.Attachments) != 1 {
				t.Fatalf("attachments: got %d, want 1", len(got.Attachments))
			}
			a := got.Attachments[0]
			if a.Color != tt.wantColor || a.Fallback == "" || a.TitleLink != "https://status.example.net" || !strings.Contains(a.Footer, tt.e.ID) {
				t.Errorf("attachment: got %+v, want color %s, a fallback, the link and the event id", a, tt.wantColor)
			}
			titles := map[string]string{}
			for _, f := range a.Fields {
				titles[f.Title] = f.Value
			}
			if titles["Node"] != tt.e.Node || titles["Severity"] != tt.e.Severity.String() {
				t.Errorf("fields: got %v, want Node %s and Severity %s", titles, tt.e.Node, tt.e.Severity)
			}
			for k := range tt.e.Details {
				if _, ok := titles[k]; !ok {
					t.Errorf("fields: got %v, want detail %q", titles, k)
				}
			}
		})
	}
}

func TestEncodeUnknownFormat(t *testing.T) {
	if _, err := Encode("teams", failoverEvent(), ""); err == nil || !strings.Contains(err.Error(), `unknown format "teams"`) {
		t.Errorf("got %v, want an unknown format error", err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{name: "short", in: "abc", n: 10, want: "abc"},
		{name: "ascii", in: "abcdefghij", n: 6, want: "abc…"},
		{name: "rune boundary", in: "ééééé", n: 7, want: "éé…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.in, tt.n); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
