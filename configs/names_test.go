package configs

import (
	"regexp"
	"strings"
	"testing"
)

// The patterns as they were, with the bounded repeat: the oracles of the
// length-checked ones.
var (
	boundedNodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	boundedTable    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

func TestNames(t *testing.T) {
	tests := []struct {
		name        string
		s           string
		node, table bool
	}{
		{"empty", "", false, false},
		{"one letter", "a", true, true},
		{"63 bytes", strings.Repeat("a", 63), true, true},
		{"64 bytes", strings.Repeat("a", 64), false, false},
		{"upper case", "Node-1", true, false},
		{"leading dash", "-a", false, false},
		{"leading underscore", "_a", false, true},
		{"dot", "a.b", true, false},
		{"non-ASCII", "nœud", false, false},
		{"62 then a 2-byte rune", strings.Repeat("a", 62) + "é", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validNodeName(tt.s); got != tt.node {
				t.Errorf("validNodeName(%q): got %v, want %v", tt.s, got, tt.node)
			}
			if got := validTable(tt.s); got != tt.table {
				t.Errorf("validTable(%q): got %v, want %v", tt.s, got, tt.table)
			}
		})
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "a", "node-a", "_t", strings.Repeat("a", 63), strings.Repeat("b", 64), "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validNodeName(s), boundedNodeName.MatchString(s); got != want {
			t.Errorf("validNodeName(%q): got %v, want %v", s, got, want)
		}
		if got, want := validTable(s), boundedTable.MatchString(s); got != want {
			t.Errorf("validTable(%q): got %v, want %v", s, got, want)
		}
	})
}
