package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
)

// amPayload is the Alertmanager webhook payload, version 4, with one alert.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// amReceiver is the receiver name pbxha reports in alertmanager payloads.
const amReceiver = "pbxha"

func amPayloadOf(e event.Event, externalURL string) amPayload {
	status, ends := "firing", time.Time{}
	if e.Resolved {
		status, ends = "resolved", e.Time
	}
	labels := map[string]string{
		"alertname": "pbxha_" + e.Kind,
		"severity":  e.Severity.String(),
		"node":      e.Node,
		"cluster":   e.Cluster,
	}
	if p, ok := e.Details["probe"].(string); ok && p != "" {
		labels["probe"] = p
	}
	var desc strings.Builder
	for _, k := range sortedKeys(e.Details) {
		fmt.Fprintf(&desc, "%s: %s\n", k, truncate(detailText(e.Details[k]), 2000))
	}
	annotations := map[string]string{
		"summary":     e.Summary,
		"description": strings.TrimSuffix(desc.String(), "\n"),
		"event_id":    e.ID,
	}
	group := map[string]string{"alertname": labels["alertname"], "cluster": e.Cluster, "node": e.Node}
	return amPayload{
		Version:           "4",
		GroupKey:          "{}:" + labelSet(group),
		TruncatedAlerts:   0,
		Status:            status,
		Receiver:          amReceiver,
		GroupLabels:       group,
		CommonLabels:      labels,
		CommonAnnotations: annotations,
		ExternalURL:       externalURL,
		Alerts: []amAlert{{
			Status:       status,
			Labels:       labels,
			Annotations:  annotations,
			StartsAt:     rfc3339(e.Time),
			EndsAt:       ends.UTC().Format(time.RFC3339Nano),
			GeneratorURL: externalURL,
			Fingerprint:  fingerprint(labels),
		}},
	}
}

// labelSet renders labels the way Alertmanager prints them: {a="1", b="2"}.
func labelSet(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// fingerprint identifies the alert so that a resolved event pairs with the
// firing one. Severity is left out because a resolved event usually carries a
// lower severity than the event that fired.
func fingerprint(labels map[string]string) string {
	id := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != "severity" {
			id[k] = v
		}
	}
	sum := sha256.Sum256([]byte(labelSet(id)))
	return hex.EncodeToString(sum[:8])
}
