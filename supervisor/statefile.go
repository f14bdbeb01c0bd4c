package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// record is what exec mode writes to StateDir/pbx.pid about the child it
// started, so that the next pbxha adopts it. StartTicks (/proc/PID/stat
// field 22) tells the PBX from a later process that reused the pid.
type record struct {
	PID        int      `json:"pid"`
	StartTicks uint64   `json:"start_ticks"`
	Command    []string `json:"command,omitempty"`
}

// parseRecord decodes a state file and checks it names a possible process.
func parseRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, err
	}
	if r.PID <= 1 {
		return record{}, fmt.Errorf("pid %d is not a PBX", r.PID)
	}
	if r.StartTicks == 0 {
		return record{}, errors.New("start_ticks missing")
	}
	return r, nil
}

// readRecord reads the state file; a missing file is (record{}, nil, false).
func readRecord(path string) (record, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	r, err := parseRecord(b)
	if err != nil {
		return record{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}

// writeRecord replaces the state file atomically (temp file and rename).
func writeRecord(path string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pbx.pid-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
