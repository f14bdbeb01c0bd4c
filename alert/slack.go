package alert

import (
	"fmt"
	"strings"

	"github.com/pbxha/pbxha/event"
)

// slackPayload is a Slack incoming-webhook message limited to the fields
// Mattermost and Rocket.Chat incoming webhooks also accept: text and legacy
// attachments.
type slackPayload struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Fallback  string       `json:"fallback"`
	Color     string       `json:"color"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link,omitempty"`
	Text      string       `json:"text"`
	Fields    []slackField `json:"fields"`
	Footer    string       `json:"footer"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Attachment colours: red, amber, green.
const (
	colorCritical = "#D00000"
	colorWarning  = "#F2A900"
	colorOK       = "#2EB67D"
)

// slackEscape escapes the three characters Slack's mrkdwn reserves.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackPayloadOf(e event.Event, externalURL string) slackPayload {
	state := strings.ToUpper(e.Severity.String())
	color := colorOK
	switch {
	case e.Resolved:
		state, color = "RESOLVED", colorOK
	case e.Severity == event.Critical:
		color = colorCritical
	case e.Severity == event.Warning:
		color = colorWarning
	}
	summary := slackEscape.Replace(e.Summary)
	where := slackEscape.Replace(e.Node)
	if e.Cluster != "" {
		where += " (" + slackEscape.Replace(e.Cluster) + ")"
	}
	fields := []slackField{
		{Title: "Node", Value: slackEscape.Replace(e.Node), Short: true},
		{Title: "Cluster", Value: slackEscape.Replace(e.Cluster), Short: true},
		{Title: "Severity", Value: e.Severity.String(), Short: true},
		{Title: "Time", Value: rfc3339(e.Time), Short: true},
	}
	for _, k := range sortedKeys(e.Details) {
		v := truncate(detailText(e.Details[k]), 1000)
		fields = append(fields, slackField{Title: slackEscape.Replace(k), Value: slackEscape.Replace(v), Short: len(v) <= 40})
	}
	return slackPayload{
		Text: fmt.Sprintf("[%s] %s on %s: %s", state, slackEscape.Replace(e.Kind), where, summary),
		Attachments: []slackAttachment{{
			Fallback:  fmt.Sprintf("[%s] %s on %s: %s", state, e.Kind, e.Node, e.Summary),
			Color:     color,
			Title:     "pbxha " + slackEscape.Replace(e.Kind),
			TitleLink: externalURL,
			Text:      summary,
			Fields:    fields,
			Footer:    "pbxha event " + slackEscape.Replace(e.ID),
		}},
	}
}
