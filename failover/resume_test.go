package failover

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTakeResume(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		content string // "" : no note
		ok      bool
		err     string
	}{
		{"no note", "", false, ""},
		{"fresh", Resume{Epoch: 7, At: now.Add(-3 * time.Second)}.String() + "\n", true, ""},
		{"another epoch", Resume{Epoch: 6, At: now.Add(-3 * time.Second)}.String(), false, "written at epoch 6, the epoch file says 7"},
		{"too old", Resume{Epoch: 7, At: now.Add(-21 * time.Second)}.String(), false, "more than 20s"},
		{"from the future", Resume{Epoch: 7, At: now.Add(time.Minute)}.String(), false, "ago, more than"},
		{"garbage", "standby 7 1\n", false, `want "primary EPOCH UNIXNANO"`},
		{"epoch 0", "primary 0 1\n", false, "is not a number from 1"},
		{"bad time", "primary 7 -5\n", false, "not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ResumeFile)
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, ok, err := TakeResume(dir, 7, now, DefaultRestartHold)
			if ok != tc.ok || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("TakeResume: got %v, %v; want %v and an error containing %q", ok, err, tc.ok, tc.err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the note is still there after TakeResume (%v): a later start would resume too", err)
			}
		})
	}
}

func TestSaveResumeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	at := time.Now()
	if err := SaveResume(dir, Resume{Epoch: 12, At: at}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := TakeResume(dir, 12, at.Add(time.Second), DefaultRestartHold)
	if !ok || err != nil || r.Epoch != 12 || !r.At.Equal(at.Round(0)) {
		t.Errorf("TakeResume after SaveResume: got %+v, %v, %v; want epoch 12 at %s", r, ok, err, at)
	}
	if err := SaveResume(filepath.Join(dir, "missing"), Resume{Epoch: 1, At: at}); err == nil || !strings.Contains(err.Error(), "save resume note") {
		t.Errorf("SaveResume into a missing directory: got %v, want an error naming the note", err)
	}
}

func FuzzParseResume(f *testing.F) {
	f.Add("primary 7 1767225600000000000\n")
	f.Add("primary 0 0")
	f.Add("standby x y z")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResume(s)
		if err != nil {
			return
		}
		again, err := ParseResume(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseResume(%q) = %+v, which does not round-trip: %+v, %v", s, r, again, err)
		}
	})
}
