package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncCheckSource: the rsync daemon's pre-xfer check exits 0 for a
// good source and 1 with the reason on stdout for a bad one; the directory
// comes from the argument or RSYNC_MODULE_PATH.
func TestSyncCheckSource(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{good, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(d, ".pbxha-sync"), nil, 0o644)
	}
	_ = os.WriteFile(filepath.Join(good, "a.wav"), []byte("x"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		env  string
		code int
		out  string
	}{
		{"good", []string{good}, "", 0, ""},
		{"good from the environment", nil, good, 0, ""},
		{"empty", []string{empty}, "", 1, "empty"},
		{"no marker", []string{"--marker", "other", good}, "", 1, "marker file other missing"},
		{"not mounted", []string{"--require-mount", good}, "", 1, "not a mount point"},
		{"no directory", nil, "", 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RSYNC_MODULE_PATH", tc.env)
			var out, errOut bytes.Buffer
			args := append([]string{"sync", "check-source", "--marker", ".pbxha-sync"}, tc.args...)
			if code := run(args, &out, &errOut); code != tc.code {
				t.Fatalf("got exit %d (%s%s), want %d", code, out.String(), errOut.String(), tc.code)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("got stdout %q, want %q", out.String(), tc.out)
			}
		})
	}
}
