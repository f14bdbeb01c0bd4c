package filesync

import (
	"regexp"
	"strings"
	"testing"
)

// boundedName is the pattern as it was: the oracle of validName.
var boundedName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"empty", "", false},
		{"plain", "sounds", true},
		{"63 bytes", strings.Repeat("a", 63), true},
		{"64 bytes", strings.Repeat("a", 64), false},
		{"upper case", "Sounds", false},
		{"leading dot", ".a", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validName(tt.s); got != tt.want {
				t.Errorf("validName(%q): got %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"", "sounds", "a.b-c_d", strings.Repeat("a", 63), strings.Repeat("a", 64), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), boundedName.MatchString(s); got != want {
			t.Errorf("validName(%q): got %v, want %v", s, got, want)
		}
	})
}
