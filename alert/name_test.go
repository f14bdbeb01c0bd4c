package alert

import (
	"regexp"
	"strings"
	"testing"
)

// boundedEndpointName is the pattern as it was: the oracle of
// validEndpointName.
var boundedEndpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

func TestValidEndpointName(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"empty", "", false},
		{"plain", "oncall", true},
		{"64 bytes", strings.Repeat("a", 64), true},
		{"65 bytes", strings.Repeat("a", 65), false},
		{"upper case", "OnCall", false},
		{"leading dot", ".a", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validEndpointName(tt.s); got != tt.want {
				t.Errorf("validEndpointName(%q): got %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func FuzzValidEndpointName(f *testing.F) {
	for _, s := range []string{"", "oncall", "a.b-c_d", strings.Repeat("a", 64), strings.Repeat("a", 65), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validEndpointName(s), boundedEndpointName.MatchString(s); got != want {
			t.Errorf("validEndpointName(%q): got %v, want %v", s, got, want)
		}
	})
}
