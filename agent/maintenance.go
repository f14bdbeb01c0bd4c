package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MaintenanceFileName is the file in state_dir that exists while
// maintenance mode is on, so that the mode survives a restart of pbxha. It
// holds the time the mode was switched on (RFC 3339).
const MaintenanceFileName = "maintenance"

// persistMaintenance writes (on) or removes (off) the maintenance file.
// An empty path keeps nothing.
func persistMaintenance(path string, on bool, now time.Time) error {
	if path == "" {
		return nil
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("agent: maintenance off %s: %w", path, err)
		}
		return nil
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(now.UTC().Format(time.RFC3339)+"\n"), 0o640)
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncFile(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("agent: maintenance on %s: %w (not switched on: it would not survive a restart)", path, err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// restoreMaintenance reports whether the maintenance file exists, and the
// time it holds ("" when unreadable). A file that cannot be read counts as
// on: maintenance errs on the side of doing nothing automatically.
func restoreMaintenance(path string) (on bool, since string) {
	if path == "" {
		return false, ""
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, ""
	case err != nil:
		return true, ""
	}
	return true, strings.TrimSpace(string(b))
}
