package deadlinetest

import (
	"strings"
	"testing"
	"time"
)

// TestCheck: a decision that flips at +300ms, checked with deadlines
// right, late, early and missing.
func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	flip := now.Add(300 * time.Millisecond)
	contract := func(next time.Time) Contract[bool] {
		return Contract[bool]{Now: now, Next: next,
			Decide:   func(at time.Time) bool { return !at.Before(flip) },
			Same:     func(a, b bool) bool { return a == b },
			Describe: func(b bool) string { return map[bool]string{false: "before", true: "after"}[b] }}
	}
	tests := []struct {
		name    string
		next    time.Time
		wantErr string
	}{
		{"right", flip, ""},
		{"late", flip.Add(50 * time.Millisecond), "decision changed at +300ms"},
		{"early", flip.Add(-time.Millisecond), "does not change there"},
		{"none", time.Time{}, "decision changed at +300ms"},
		{"not after now", now, "is not after now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(contract(tt.next))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
