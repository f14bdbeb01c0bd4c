package failover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ResumeFile is the name, inside the state directory, of the note a
// primary leaves when its sidecar restarts keeping the role: the next
// process resumes as primary instead of handing the service over.
const ResumeFile = "resume"

// DefaultRestartHold is how long a standby holds off a takeover from a
// primary whose last heartbeat said its sidecar was restarting, and how old
// a resume note may be for the next process to resume as primary.
const DefaultRestartHold = 20 * time.Second

// Resume is what a primary that restarts keeping its role tells the next
// process: that it was primary at Epoch when it stopped, at At.
type Resume struct {
	Epoch uint64
	At    time.Time
}

// String returns the note's one line: "primary EPOCH UNIXNANO".
func (r Resume) String() string {
	return fmt.Sprintf("primary %d %d", r.Epoch, r.At.UnixNano())
}

// ParseResume parses a note written by Resume.String.
func ParseResume(s string) (Resume, error) {
	f := strings.Fields(strings.TrimSuffix(s, "\n"))
	if len(f) != 3 || f[0] != "primary" {
		return Resume{}, fmt.Errorf("want \"primary EPOCH UNIXNANO\", got %q", truncName(s))
	}
	epoch, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil || epoch == 0 || epoch > MaxEpoch {
		return Resume{}, fmt.Errorf("epoch %q is not a number from 1 to %d", truncName(f[1]), uint64(MaxEpoch))
	}
	ns, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || ns <= 0 {
		return Resume{}, fmt.Errorf("time %q is not a positive number of nanoseconds", truncName(f[2]))
	}
	return Resume{Epoch: epoch, At: time.Unix(0, ns)}, nil
}

// SaveResume writes the note durably into dir.
func SaveResume(dir string, r Resume) error {
	if err := writeDurably(dir, ResumeFile, r.String()+"\n"); err != nil {
		return fmt.Errorf("failover: save resume note %s: %w", filepath.Join(dir, ResumeFile), err)
	}
	return nil
}

// TakeResume reads and removes the note in dir. It returns ok only for a
// note of the epoch persisted now (a takeover by the peer meanwhile would
// have been learnt only later, so this is the node's own last epoch) that
// is not older than maxAge at now and not from the future: a node that was
// down longer, or crashed without a note, starts as standby as always. A
// missing note is ok false with no error; a note that cannot be read or
// parsed is removed and reported, and the node starts as standby.
func TakeResume(dir string, epoch uint64, now time.Time, maxAge time.Duration) (r Resume, ok bool, err error) {
	path := filepath.Join(dir, ResumeFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Resume{}, false, nil
	}
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		// A note that stays would let a later start resume too.
		return Resume{}, false, fmt.Errorf("failover: take resume note %s: %w", path, rmErr)
	}
	if err != nil {
		return Resume{}, false, fmt.Errorf("failover: take resume note %s: %w", path, err)
	}
	r, err = ParseResume(string(b))
	if err != nil {
		return Resume{}, false, fmt.Errorf("failover: take resume note %s: %w", path, err)
	}
	age := now.Sub(r.At)
	switch {
	case r.Epoch != epoch:
		return r, false, fmt.Errorf("failover: take resume note %s: written at epoch %d, the epoch file says %d: starting as standby", path, r.Epoch, epoch)
	case age < -time.Second || age > maxAge:
		return r, false, fmt.Errorf("failover: take resume note %s: written %s ago, more than %s: starting as standby", path, age.Round(time.Millisecond), maxAge)
	}
	return r, true, nil
}
