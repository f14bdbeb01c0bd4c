package failover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MinStateDirFree is the least free space the state directory's file system
// must have: room for the epoch, the event log at its largest (10,000
// events) and an alert outbox, with a margin. Below it pbxha reports the
// directory as unwritable before a write fails.
const MinStateDirFree = 8 << 20

// StateDirProblem returns why dir cannot keep pbxha's state, or nil: it is
// not a directory, its file system is read-only or the directory refuses
// writes (access), or fewer than MinStateDirFree bytes or no inodes are free
// (statfs). It writes nothing: config check and the start use it.
func StateDirProblem(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failover: state dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("failover: state dir %s: not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("failover: state dir %s: not writable: %w", dir, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return fmt.Errorf("failover: state dir %s: statfs: %w", dir, err)
	}
	if free := fs.Bavail * uint64(fs.Bsize); free < MinStateDirFree {
		return fmt.Errorf("failover: state dir %s: only %s free, want at least %s", dir, bytesText(free), bytesText(MinStateDirFree))
	}
	if fs.Files > 0 && fs.Ffree == 0 {
		return fmt.Errorf("failover: state dir %s: no free inodes", dir)
	}
	return nil
}

// CheckStateDir is StateDirProblem plus a write as SaveEpoch makes one: a
// temporary file written, fsynced, renamed and removed, and the directory
// fsynced. The node runs it in the background to notice an unwritable state
// directory before a takeover needs it.
func CheckStateDir(dir string) error {
	if err := StateDirProblem(dir); err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("failover: state dir %s: write test: %w", dir, err) }
	tmp, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fail(err)
	}
	_, werr := tmp.WriteString("pbxha\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fail(err)
	}
	done := filepath.Join(dir, ".write-test")
	if err := os.Rename(tmp.Name(), done); err != nil {
		os.Remove(tmp.Name())
		return fail(err)
	}
	if err := os.Remove(done); err != nil {
		return fail(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fail(err)
	}
	serr = d.Sync()
	cerr = d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fail(err)
	}
	return nil
}

// bytesText renders a size in KiB or MiB for an error.
func bytesText(n uint64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
