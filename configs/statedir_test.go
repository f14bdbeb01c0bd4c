package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/internal/testenv"
)

// TestStateDirHostCheck: a state_dir on a read-only or nearly full file
// system is refused by config check and at start, naming the directory
// and why; so is one that would be created there.
func TestStateDirHostCheck(t *testing.T) {
	cleanEnv(t)
	cases := []struct {
		name  string
		mount string // tmpfs options on the mount point
		sub   string // state_dir below the mount point
		want  string // the problem, MNT for the mount point
	}{
		{"read-only", "ro", "", "state_dir: MNT: not writable: read-only file system"},
		{"read-only, to be created", "ro", "pbxha/state", "state_dir: MNT/pbxha/state cannot be created: MNT: not writable: read-only file system"},
		{"nearly full", "size=1m", "", "state_dir: MNT: only 1.0 MiB free, want at least 8.0 MiB"},
		{"roomy", "size=64m", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mnt := t.TempDir()
			testenv.MountTmpfs(t, mnt, tc.mount)
			dir := filepath.Join(mnt, tc.sub)
			path := filepath.Join(t.TempDir(), "pbxha.yaml")
			cfg := "state_dir: " + dir + "\ncontrol:\n  socket: " + filepath.Join(t.TempDir(), "s.sock") + "\nprobes:\n  sip:\n    - target: sip:127.0.0.1:5060\n"
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Preflight(path)
			got := ""
			if err != nil {
				got = strings.TrimPrefix(strings.ReplaceAll(err.Error(), mnt, "MNT"), path+": ")
			}
			if got != tc.want {
				t.Errorf("got problems %q, want %q", got, tc.want)
			}
		})
	}
}
