package alert

import (
	"testing"

	"github.com/pbxha/pbxha/event"
)

// BenchmarkPublish measures what an emitter pays per event: the in-memory
// hand-off (Run is not started, so the cost of disk and network is excluded,
// as it is for emitters).
func BenchmarkPublish(b *testing.B) {
	d, err := New(Config{Dir: b.TempDir(), MaxQueued: 1 << 20, Endpoints: []Endpoint{{Name: "ops", URL: "http://127.0.0.1:9/"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := pub.Publish(event.Event{Kind: event.ProbeState, Severity: event.Warning, Summary: "s", Details: map[string]any{"probe": "sip"}})
	b.ReportAllocs()
	for b.Loop() {
		d.Publish(e)
	}
}

func BenchmarkEncode(b *testing.B) {
	e := failoverEvent()
	for _, f := range []Format{FormatJSON, FormatSlack, FormatAlertmanager} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(f, e, "http://x"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
