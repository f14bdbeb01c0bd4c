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
// pbx_output), starting at the file's current end, until ctx ends. A file
// that shrank (truncated by log rotation) is read again from its start.
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
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		if f == nil {
			if g, err := os.Open(path); err == nil {
				f = g
				off, _ = f.Seek(0, io.SeekEnd)
				rd = bufio.NewReader(f)
			}
		}
		if f != nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				off, _ = f.Seek(0, io.SeekStart)
				rd.Reset(f)
				part = part[:0]
			}
			for i := 0; i < 10000; i++ {
				line, err := rd.ReadBytes('\n')
				off += int64(len(line))
				if errors.Is(err, io.EOF) || err != nil {
					part = append(part, line...)
					if len(part) > 64<<10 { // a runaway line without newline
						s.log.Info("pbx output", "pbx_output", string(part))
						part = part[:0]
					}
					break
				}
				if len(part) > 0 {
					line = append(part, line...)
					part = part[:0]
				}
				s.log.Info("pbx output", "pbx_output", string(trimEOL(line)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
