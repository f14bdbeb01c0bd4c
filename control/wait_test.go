package control

import (
	"strings"
	"testing"
	"time"
)

func TestAnswering(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := &Result{Status: "ok", Start: since.Add(time.Second)}
	old := &Result{Status: "ok", Start: since.Add(-time.Second)}
	bad := &Result{Status: "failed", Start: since.Add(time.Second), Error: "no reply within 200ms"}
	for _, tc := range []struct {
		name   string
		probes []Probe
		want   bool
		why    string
	}{
		{"passed after the action", []Probe{{Name: "sip", Kind: "sip", Critical: true, Last: ok}}, true, ""},
		{"only a result from before", []Probe{{Name: "sip", Kind: "sip", Critical: true, Last: old}}, false, "sip: no check since the action"},
		{"failing", []Probe{{Name: "sip", Kind: "sip", Critical: true, Last: bad}}, false, "sip: no reply within 200ms"},
		{"database and non-critical probes do not count", []Probe{{Name: "sip", Kind: "sip", Critical: true, Last: ok},
			{Name: "db", Kind: "pg", Critical: true, Last: bad}, {Name: "t", Kind: "tcp", Last: bad}}, true, ""},
		{"nothing to wait for", []Probe{{Name: "db", Kind: "pg", Critical: true, Last: ok}}, false, "no critical probe of the PBX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Answering(Status{Probes: tc.probes}, since)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %v %q, want %v %q", got, why, tc.want, tc.why)
			}
		})
	}
}
