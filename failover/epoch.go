package failover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// EpochFile is the name of the epoch file inside the state directory.
const EpochFile = "epoch"

// MaxEpoch is the largest epoch loaded or saved: far beyond any number of
// takeovers (one a second for a hundred billion years), and far enough
// from 2^64 that the next takeover's epoch, one more than the higher of the
// two nodes', can never wrap around to 0. A file above it is corrupt.
const MaxEpoch = 1 << 62

// LoadEpoch reads the epoch persisted in dir. A missing file is epoch 0 (a
// node that never took over); a file that exists but does not hold one
// decimal number is an error naming the file, because guessing could let a
// stale primary win.
func LoadEpoch(dir string) (uint64, error) {
	path := filepath.Join(dir, EpochFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("failover: load epoch %s: %w", path, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	e, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("failover: load epoch %s: corrupt content %q: want one decimal number", path, truncName(s))
	}
	if e > MaxEpoch {
		return 0, fmt.Errorf("failover: load epoch %s: corrupt content: epoch %d is above the largest, %d, and the next takeover could wrap to 0", path, e, uint64(MaxEpoch))
	}
	return e, nil
}

// SaveEpoch persists epoch in dir so that it survives a crash or power loss:
// it writes a temporary file, fsyncs it, renames it over the epoch file and
// fsyncs the directory. On error the old file is left as it was.
//
// An epoch above MaxEpoch is refused: it could never be loaded again.
func SaveEpoch(dir string, epoch uint64) error {
	path := filepath.Join(dir, EpochFile)
	if epoch > MaxEpoch {
		return fmt.Errorf("failover: save epoch %s: epoch %d is above the largest, %d", path, epoch, uint64(MaxEpoch))
	}
	if err := writeDurably(dir, EpochFile, strconv.FormatUint(epoch, 10)+"\n"); err != nil {
		return fmt.Errorf("failover: save epoch %s: %w", path, err)
	}
	return nil
}

// writeDurably replaces dir/name with content so that it survives a crash
// or power loss: a temporary file, fsynced, renamed over it, and the
// directory fsynced. On error the old file is left as it was.
func writeDurably(dir, name, content string) error {
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(content)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	serr = d.Sync()
	cerr = d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
