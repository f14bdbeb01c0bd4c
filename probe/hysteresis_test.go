package probe

import (
	"strings"
	"testing"
)

// seq turns "ook.dF" style strings into statuses: o ok, d degraded, f failed, u unknown.
func seq(s string) []Status {
	var out []Status
	for _, c := range s {
		switch c {
		case 'o':
			out = append(out, OK)
		case 'd':
			out = append(out, Degraded)
		case 'f':
			out = append(out, Failed)
		case 'u':
			out = append(out, Unknown)
		}
	}
	return out
}

func letter(s Status) string {
	return map[Status]string{Unknown: "u", OK: "o", Degraded: "d", Failed: "f"}[s]
}

func TestHysteresis(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		in         string
		want       string // settled state after each input
	}{
		{"starts unknown until rise passes", 2, 3, "oo", "uo"},
		{"starts unknown until fall failures", 2, 3, "fff", "uuf"},
		{"rise 1 fall 1 follows input", 1, 1, "ofodo", "ofodo"},
		{"single failure does not fall", 2, 3, "ooofooo", "uoooooo"},
		{"fall after three failures", 2, 3, "ooffff", "uoooff"},
		{"interrupted failures restart the count", 2, 3, "ooffoff", "uoooooo"},
		{"one pass does not rise", 2, 3, "ffffofoo", "uufffffo"},
		{"degraded after fall non-ok results", 1, 2, "oddd", "oodd"},
		{"mixed bad results make degraded, not failed", 1, 3, "odfdf", "ooodd"},
		{"degraded then failed after fall failures", 1, 2, "oddff", "ooddf"},
		{"one failure inside degraded stays degraded", 1, 2, "oddfd", "ooddd"},
		{"failed improves to degraded after rise", 2, 2, "offdd", "uuffd"},
		{"failed improves straight to ok", 2, 2, "offoo", "uuffo"},
		{"unknown result counts as failed", 1, 2, "ouu", "oof"},
		{"degraded recovers after rise", 3, 1, "odooo", "udddo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Hysteresis{Rise: tc.rise, Fall: tc.fall}
			var got strings.Builder
			for _, s := range seq(tc.in) {
				st, _ := h.Observe(s)
				got.WriteString(letter(st))
			}
			if got.String() != tc.want {
				t.Errorf("input %s (rise %d fall %d): got states %s, want %s", tc.in, tc.rise, tc.fall, got.String(), tc.want)
			}
		})
	}
}

func TestHysteresisChangedFlag(t *testing.T) {
	h := Hysteresis{Rise: 1, Fall: 2}
	var changes []string
	for _, s := range seq("ooffffoo") {
		st, changed := h.Observe(s)
		if changed {
			changes = append(changes, letter(st))
		}
	}
	if got, want := strings.Join(changes, ""), "ofo"; got != want {
		t.Errorf("got changes %q, want %q", got, want)
	}
	if got := h.Failures(); got != 0 {
		t.Errorf("got %d consecutive failures after passes, want 0", got)
	}
}

func TestHysteresisFailures(t *testing.T) {
	h := Hysteresis{Rise: 2, Fall: 5}
	for _, s := range seq("odff") {
		h.Observe(s)
	}
	if got, want := h.Failures(), 3; got != want {
		t.Errorf("got %d consecutive failures, want %d", got, want)
	}
}
