package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWriter(t *testing.T) {
	evs := []Event{
		{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local), Kind: Failover, Severity: Critical, Summary: "n2 took over"},
		{Time: time.Date(2026, 3, 1, 12, 0, 1, 500e6, time.Local), Kind: Test, Severity: Info, Summary: "a test"},
	}
	t.Run("table", func(t *testing.T) {
		var b bytes.Buffer
		w := NewWriter(&b, false)
		for _, e := range evs {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		if b.Len() != 0 {
			t.Errorf("table printed before Flush: %q", b.String())
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "2026-03-01 12:00:00.000") ||
			!strings.Contains(lines[2], "12:00:01.500") || !strings.HasSuffix(lines[1], "n2 took over") {
			t.Errorf("got table\n%s\nwant a header and one aligned row per event", b.String())
		}
		if i, j := strings.Index(lines[1], string(Failover)), strings.Index(lines[2], string(Test)); i != j {
			t.Errorf("KIND column at %d and %d, want aligned", i, j)
		}
	})
	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		w := NewWriter(&b, true)
		for _, e := range evs {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("got %d lines, want one per event:\n%s", len(lines), b.String())
		}
		var got Event
		if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || got.Summary != "n2 took over" || got.Kind != Failover {
			t.Errorf("first line %q: got %+v (%v), want the first event", lines[0], got, err)
		}
	})
}
