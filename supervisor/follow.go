package supervisor

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// followEvery is how often the output follower looks for new PBX output.
// Log lines only; the PBX's death is noticed through wait or pidfd at once.
const followEvery = 200 * time.Millisecond

// follow copies lines appended to StateDir/pbx.out into the log (key
// pbx_output), starting at the file's current end, until ctx ends. It
// follows log rotation both ways: a file that shrank (copytruncate) is read
// again from its start, and a file renamed away (the path now names another
// file, or none) is read to its end and the new file at the path is then
// followed from its start.
func (s *Supervisor) follow(ctx context.Context) {
	path := filepath.Join(s.cfg.StateDir, outputFile)
	var (
		f    *os.File
		off  int64
		rd   *bufio.Reader
		part []byte
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	first := true
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		if f == nil {
			if g, err := os.Open(path); err == nil {
				f = g
				off = 0
				if first {
					// At start only what comes next is new; a file that
					// appears later (after a rotation) is new throughout.
					off, _ = f.Seek(0, io.SeekEnd)
				}
				rd = bufio.NewReader(f)
			}
			first = false
		}
		if f != nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				off, _ = f.Seek(0, io.SeekStart)
				rd.Reset(f)
				part = part[:0]
			}
			off += s.copyLines(rd, &part)
			if rotated(f, path) {
				// The old file is read to its end above; take the new one.
				if len(part) > 0 {
					s.log.Info("pbx output", "pbx_output", string(part))
					part = part[:0]
				}
				f.Close()
				f = nil
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// copyLines logs the whole lines rd has now (up to a bound per round) and
// keeps a trailing partial line in part. It returns the bytes consumed.
func (s *Supervisor) copyLines(rd *bufio.Reader, part *[]byte) int64 {
	var n int64
	for i := 0; i < 10000; i++ {
		line, err := rd.ReadBytes('\n')
		n += int64(len(line))
		if err != nil {
			*part = append(*part, line...)
			if len(*part) > 64<<10 { // a runaway line without newline
				s.log.Info("pbx output", "pbx_output", string(*part))
				*part = (*part)[:0]
			}
			return n
		}
		if len(*part) > 0 {
			line = append(*part, line...)
			*part = (*part)[:0]
		}
		s.log.Info("pbx output", "pbx_output", string(trimEOL(line)))
	}
	return n
}

// rotated reports whether path no longer names the open file f: it was
// renamed away, with or without a new file in its place.
func rotated(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(path)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return !os.SameFile(open, now)
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
