package rebuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// journalName is the file in the state directory that records a rebuild
// under way, so that one cut short by pbxha's own death is undone at the
// next start.
const journalName = "rebuild.json"

// journal is what a rebuild under way has changed.
type journal struct {
	DataDir    string    `json:"data_dir"`
	Aside      string    `json:"aside"`       // where the old data directory waits ("": there was none)
	WasRunning bool      `json:"was_running"` // the old server ran before the rebuild
	Started    time.Time `json:"started"`
	Streaming  bool      `json:"streaming"` // the new standby streamed: only the old directory is left to remove
}

func journalPath(stateDir string) string { return filepath.Join(stateDir, journalName) }

// write records j durably (temporary file, fsync, rename).
func (j journal) write(stateDir string) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return fmt.Errorf("rebuild: journal: %w", err)
	}
	tmp := journalPath(stateDir) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("rebuild: journal: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("rebuild: journal: %w", err)
	}
	if err := os.Rename(tmp, journalPath(stateDir)); err != nil {
		return fmt.Errorf("rebuild: journal: %w", err)
	}
	return syncDir(stateDir)
}

// readJournal returns the journal of a rebuild that did not end, or false.
func readJournal(stateDir string) (journal, bool, error) {
	var j journal
	b, err := os.ReadFile(journalPath(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("rebuild: journal: %w", err)
	}
	if err := json.Unmarshal(b, &j); err != nil || j.DataDir == "" {
		return j, false, fmt.Errorf("rebuild: journal %s: unreadable (%v): remove it once the data directory is checked", journalPath(stateDir), err)
	}
	return j, true, nil
}

func removeJournal(stateDir string) error {
	if err := os.Remove(journalPath(stateDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rebuild: journal: %w", err)
	}
	return syncDir(stateDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
