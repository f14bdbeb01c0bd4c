package alert

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/pbxha/pbxha/event"
)

// SchemaVersion is the version of the json format's schema. It changes only
// when a field changes meaning or disappears; new fields may appear without it.
const SchemaVersion = 1

// Encode returns the request body for e in format f. externalURL, when set,
// becomes the link in slack messages and the externalURL and generatorURL of
// alertmanager payloads.
func Encode(f Format, e event.Event, externalURL string) ([]byte, error) {
	var v any
	switch f {
	case FormatJSON, "":
		v = jsonPayloadOf(e)
	case FormatSlack:
		v = slackPayloadOf(e, externalURL)
	case FormatAlertmanager:
		v = amPayloadOf(e, externalURL)
	default:
		return nil, fmt.Errorf("alert: encode %s: unknown format %q", e.ID, f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("alert: encode %s as %s: %w", e.ID, f, err)
	}
	return b, nil
}

// jsonPayload is the json format, schema version 1.
type jsonPayload struct {
	SchemaVersion int            `json:"schema_version"`
	ID            string         `json:"id"`
	Kind          string         `json:"kind"`
	Severity      string         `json:"severity"`
	Node          string         `json:"node"`
	Cluster       string         `json:"cluster"`
	Time          string         `json:"time"`
	Summary       string         `json:"summary"`
	Details       map[string]any `json:"details"`
	Resolved      bool           `json:"resolved"`
}

func jsonPayloadOf(e event.Event) jsonPayload {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return jsonPayload{
		SchemaVersion: SchemaVersion,
		ID:            e.ID,
		Kind:          e.Kind,
		Severity:      e.Severity.String(),
		Node:          e.Node,
		Cluster:       e.Cluster,
		Time:          rfc3339(e.Time),
		Summary:       e.Summary,
		Details:       d,
		Resolved:      e.Resolved,
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// detailText renders one Details value for people: strings as they are,
// whole numbers without a fraction, anything else as compact JSON.
func detailText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// sortedKeys returns the keys of m in order, so payloads are deterministic.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
