package filesync

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrRefused marks a source (or destination) that must not be synced:
// missing, not a directory, not a mount point, without its marker file,
// or empty. Nothing is transferred and nothing is deleted.
var ErrRefused = errors.New("refused")

// CheckSource tells whether dir may be served as a sync source: it must
// be a directory, a mount point when requireMount, hold the marker file
// when marker is set, and hold something besides the marker and rsync's
// partial directory. The classic accident it prevents is `rsync --delete`
// from the empty mount point of a disk that did not mount, which wipes the
// copy. The error wraps ErrRefused and says why.
func CheckSource(dir, marker string, requireMount bool) error {
	if err := checkDir(dir, requireMount); err != nil {
		return err
	}
	if marker != "" {
		if _, err := os.Lstat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("filesync: source %s: marker file %s missing (disk not mounted, or the wrong disk?): %w", dir, marker, ErrRefused)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filesync: source %s: %w", dir, err)
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(16)
		for _, n := range names {
			if n != marker && n != PartialDir {
				return nil
			}
		}
		if errors.Is(err, io.EOF) || len(names) == 0 {
			return fmt.Errorf("filesync: source %s: empty (nothing but the marker): %w", dir, ErrRefused)
		}
		if err != nil {
			return fmt.Errorf("filesync: source %s: %w", dir, err)
		}
	}
}

// checkDir refuses a path that is not a directory, or not a mount point
// when requireMount.
func checkDir(dir string, requireMount bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("filesync: %s: missing: %w", dir, ErrRefused)
	case err != nil:
		return fmt.Errorf("filesync: %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("filesync: %s: not a directory: %w", dir, ErrRefused)
	}
	if !requireMount {
		return nil
	}
	mounted, err := isMountPoint(dir, fi)
	if err != nil {
		return fmt.Errorf("filesync: %s: %w", dir, err)
	}
	if !mounted {
		return fmt.Errorf("filesync: %s: not a mount point (require_mount): the disk is not mounted: %w", dir, ErrRefused)
	}
	return nil
}

// isMountPoint reports whether dir is the root of a mounted file system:
// its device differs from its parent's, or it is its parent's inode (/).
func isMountPoint(dir string, fi fs.FileInfo) (bool, error) {
	pfi, err := os.Stat(filepath.Join(dir, ".."))
	if err != nil {
		return false, err
	}
	st, ok1 := fi.Sys().(*syscall.Stat_t)
	pst, ok2 := pfi.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return false, errors.New("no device numbers")
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino, nil
}
