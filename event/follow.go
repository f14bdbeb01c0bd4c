package event

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"time"
)

// Follow reads the log at path like tail -f until ctx ends: fn gets the
// events already there first (old true), in time order, then each event as
// it is appended (old false), checked every poll. A log compacted in the
// meantime (rewritten and renamed over the path) is reopened and the
// events already passed to fn are not passed again. A log that does not
// exist yet is waited for. It returns nil when ctx ends.
func Follow(ctx context.Context, path string, poll time.Duration, fn func(e Event, old bool)) error {
	var (
		f      *os.File
		rd     *bufio.Reader
		part   []byte
		last   time.Time           // newest event passed on
		recent = map[string]bool{} // IDs passed on within a minute of last
		first  = true
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	pass := func(e Event, old bool) {
		if e.Time.Before(last.Add(-time.Minute)) || recent[e.ID] {
			return // seen before a compaction
		}
		if e.Time.After(last) {
			last = e.Time
		}
		recent[e.ID] = true
		if len(recent) > 4096 { // bounded: older IDs are also caught by the time check
			clear(recent)
			recent[e.ID] = true
		}
		fn(e, old)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if f == nil {
			g, err := os.Open(path)
			switch {
			case err == nil:
				f, rd, part = g, bufio.NewReader(g), nil
			case !errors.Is(err, os.ErrNotExist):
				return err
			}
		}
		if f != nil {
			var batch []Event
			for {
				line, err := rd.ReadBytes('\n')
				if err != nil {
					part = append(part, line...)
					break
				}
				if len(part) > 0 {
					line = append(part, line...)
					part = nil
				}
				if e, err := parseLine(line); err == nil {
					batch = append(batch, e)
				}
			}
			if first {
				slices.SortStableFunc(batch, func(a, b Event) int { return a.Time.Compare(b.Time) })
			}
			for _, e := range batch {
				pass(e, first)
			}
			first = false
			if replaced(f, path) {
				f.Close()
				f = nil
				continue
			}
		} else {
			first = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// replaced reports whether path names another file than f now (a
// compaction renamed a new one over it) or none.
func replaced(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(path)
	if err != nil {
		return true
	}
	if !os.SameFile(open, now) {
		return true
	}
	// A file that shrank under us was truncated: read it again.
	pos, err := f.Seek(0, io.SeekCurrent)
	return err == nil && now.Size() < pos
}
