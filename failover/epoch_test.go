package failover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEpochPersistence(t *testing.T) {
	dir := t.TempDir()
	got, err := LoadEpoch(dir)
	if err != nil || got != 0 {
		t.Fatalf("got %d, %v from an empty state dir, want 0, nil", got, err)
	}
	for _, e := range []uint64{1, 2, 41, MaxEpoch} {
		if err := SaveEpoch(dir, e); err != nil {
			t.Fatalf("SaveEpoch(%d): %v", e, err)
		}
		got, err := LoadEpoch(dir)
		if err != nil || got != e {
			t.Fatalf("got %d, %v, want %d", got, err, e)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != EpochFile {
		t.Errorf("got state dir entries %v, want only %s (no temp files left)", entries, EpochFile)
	}
}

func TestLoadEpochCorrupt(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"text", "seven\n"},
		{"negative", "-3\n"},
		{"two lines", "3\n4\n"},
		{"overflow", "18446744073709551616\n"},
		{"largest uint64: the next takeover would be epoch 0", "18446744073709551615\n"},
		{"above MaxEpoch", "4611686018427387905\n"},
		{"half written", "\x00\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, EpochFile)
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := LoadEpoch(dir)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("got %v, want a corrupt-file error naming %s", err, path)
			}
		})
	}
}

func TestSaveEpochErrors(t *testing.T) {
	dir := t.TempDir()
	if err := SaveEpoch(dir, MaxEpoch+1); err == nil || !strings.Contains(err.Error(), "above the largest") {
		t.Errorf("got %v saving epoch MaxEpoch+1, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, EpochFile)); err == nil {
		t.Errorf("got an epoch file after a refused save, want none")
	}
	missing := filepath.Join(t.TempDir(), "gone")
	if err := SaveEpoch(missing, 3); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("got %v saving into a missing dir, want an error naming it", err)
	}
	if os.Geteuid() != 0 { // root ignores directory permissions
		ro := t.TempDir()
		SaveEpoch(ro, 5)
		os.Chmod(ro, 0o500)
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
		if err := SaveEpoch(ro, 6); err == nil {
			t.Errorf("got no error saving into a read-only dir, want one")
		}
		if got, _ := LoadEpoch(ro); got != 5 {
			t.Errorf("got epoch %d after a failed save, want the old 5", got)
		}
	}
}
