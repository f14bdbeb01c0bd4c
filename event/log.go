package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// maxLogPending bounds the events waiting for the log's writer goroutine.
const maxLogPending = 4096

// LogName is the file name of a node's event log inside its state_dir.
const LogName = "events.jsonl"

// Defaults of the event log's retention (config keys events.keep and
// events.max_age).
const (
	DefaultKeep   = 10000
	DefaultMaxAge = 30 * 24 * time.Hour
)

// Retention is how much the event log keeps: the newest Keep events (at
// least 1), none older than MaxAge (0: no age limit).
type Retention struct {
	Keep   int
	MaxAge time.Duration
}

// Log is the local event log behind `pbxha events`: one JSON object per line,
// appended by its own writer goroutine, compacted to the newest Keep events
// when it grows past twice that, and rid of the events older than MaxAge
// (checked at open and as the oldest event ages past it, with a tenth of
// MaxAge of slack so that compaction does not run at every write). Lines are not fsynced one by one (the
// alert outbox is the durable record); a crash can at worst tear the last
// line, which ReadLog skips. Publish and Close are safe for concurrent use.
type Log struct {
	path   string
	keep   Retention
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	pending []Event
	dropped uint64
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	// Owned by the writer goroutine.
	f        *os.File
	lines    int
	oldest   time.Time // time of the oldest event in the file (zero: empty or unknown)
	failing  bool      // the last write failed; logged once until one succeeds
	closeErr error
}

// OpenLog opens (creating it and its folder if needed) the event log at path
// and starts its writer goroutine; Close stops it. keep is what compaction
// keeps; events past it are dropped at open already.
func OpenLog(path string, keep Retention, logger *slog.Logger) (*Log, error) {
	if keep.Keep < 1 || keep.MaxAge < 0 {
		return nil, fmt.Errorf("event: log %s: keep %d, max age %s: want at least 1 event and an age not negative", path, keep.Keep, keep.MaxAge)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("event: log %s: %w", path, err)
	}
	f, lines, oldest, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	l := &Log{
		path: path, keep: keep, logger: logger, now: time.Now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		f: f, lines: lines, oldest: oldest,
	}
	if l.due() {
		if err := l.compact(); err != nil {
			l.logger.Error("event: log compaction failed", "target", l.path, "err", err)
		}
	}
	go l.run()
	return l, nil
}

// due reports whether compaction should run: too many lines, or the oldest
// event is past MaxAge by more than a tenth of it.
func (l *Log) due() bool {
	if l.lines > 2*l.keep.Keep {
		return true
	}
	if l.keep.MaxAge > 0 && !l.oldest.IsZero() {
		return l.now().Sub(l.oldest) > l.keep.MaxAge+l.keep.MaxAge/10
	}
	return false
}

// openAppend opens path for appending, counts its lines and finds its
// oldest event's time. A torn last line (a crash mid-write) is closed with a
// newline so the next event starts clean.
func openAppend(path string) (*os.File, int, time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, time.Time{}, fmt.Errorf("event: log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, 0, time.Time{}, fmt.Errorf("event: log %s: %w", path, err)
	}
	lines := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, 0, time.Time{}, fmt.Errorf("event: log %s: %w", path, err)
		}
		lines++
	}
	var oldest time.Time
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if e, err := parseLine(line); err == nil && (oldest.IsZero() || e.Time.Before(oldest)) {
			oldest = e.Time
		}
	}
	return f, lines, oldest, nil
}

// Publish hands e to the writer goroutine and returns at once. When the
// writer is far behind, the oldest lowest-severity waiting event is dropped
// and counted (Dropped). Events published after Close are dropped.
func (l *Log) Publish(e Event) {
	l.mu.Lock()
	if l.closed {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.pending = append(l.pending, e)
	if len(l.pending) > maxLogPending {
		i := 0
		for j := range l.pending {
			if l.pending[j].Severity < l.pending[i].Severity {
				i = j
			}
		}
		l.pending = slices.Delete(l.pending, i, i+1)
		l.dropped++
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Dropped returns how many events were dropped instead of written.
func (l *Log) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Close writes the events still waiting, syncs and closes the file. It
// returns the first error met closing; later calls return the same.
func (l *Log) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.mu.Unlock()
	<-l.done
	return l.closeErr
}

func (l *Log) run() {
	defer close(l.done)
	for {
		select {
		case <-l.wake:
			l.flush()
		case <-l.stop:
			l.flush()
			err := l.f.Sync()
			if cerr := l.f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				l.closeErr = fmt.Errorf("event: log %s: close: %w", l.path, err)
			}
			return
		}
	}
}

// flush appends every waiting event in one write, then compacts if due.
func (l *Log) flush() {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var buf bytes.Buffer
	for _, e := range batch {
		buf.Write(encodeLine(e))
	}
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		l.mu.Lock()
		l.dropped += uint64(len(batch))
		l.mu.Unlock()
		if !l.failing {
			l.logger.Error("event: log write failed; events dropped until it recovers", "target", l.path, "err", err)
		}
		l.failing = true
		return
	}
	if l.failing {
		l.logger.Info("event: log writes recovered", "target", l.path)
		l.failing = false
	}
	l.lines += len(batch)
	for _, e := range batch {
		if l.oldest.IsZero() || e.Time.Before(l.oldest) {
			l.oldest = e.Time
		}
	}
	if l.due() {
		if err := l.compact(); err != nil {
			l.logger.Error("event: log compaction failed", "target", l.path, "err", err)
		}
	}
}

// encodeLine returns e as one JSON line. Details that cannot be encoded are
// replaced by their printed form rather than losing the event.
func encodeLine(e Event) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		clean := make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			clean[k] = fmt.Sprint(v)
		}
		e.Details = clean
		b, _ = json.Marshal(e) // strings, times and ints always encode
	}
	return append(b, '\n')
}

// compact rewrites the log with its newest Keep valid events not older
// than MaxAge, in time order: a temporary file is written, synced and
// renamed over the log, which is then reopened.
func (l *Log) compact() error {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return fmt.Errorf("event: log %s: compact: %w", l.path, err)
	}
	type kept struct {
		e    Event
		line []byte
	}
	var keep []kept
	cutoff := time.Time{}
	if l.keep.MaxAge > 0 {
		cutoff = l.now().Add(-l.keep.MaxAge)
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if e, err := parseLine(line); err == nil && !e.Time.Before(cutoff) {
			keep = append(keep, kept{e, line})
		}
	}
	slices.SortStableFunc(keep, func(a, b kept) int { return a.e.Time.Compare(b.e.Time) })
	if len(keep) > l.keep.Keep {
		keep = keep[len(keep)-l.keep.Keep:]
	}
	var out []byte
	for _, k := range keep {
		out = append(append(out, k.line...), '\n')
	}
	tmp := l.path + ".tmp"
	if err := writeSynced(tmp, out); err != nil {
		return fmt.Errorf("event: log %s: compact: %w", l.path, err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("event: log %s: compact: %w", l.path, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("event: log %s: reopen after compaction: %w", l.path, err)
	}
	_ = l.f.Close()
	l.f = f
	l.lines = len(keep)
	l.oldest = time.Time{}
	if len(keep) > 0 {
		l.oldest = keep[0].e.Time
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadLog returns the events in the log at path whose time is at or after
// since (every event when since is zero), in time order (the order of
// writing may differ slightly: events are stamped before they are queued).
// It skips lines that are not whole events, such as a line torn by a crash.
// A missing file is an error wrapping os.ErrNotExist.
func ReadLog(path string, since time.Time) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("event: read log %s: %w", path, err)
	}
	var out []Event
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		e, err := parseLine(line)
		if err != nil {
			continue
		}
		if since.IsZero() || !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// parseLine decodes one log line. It accepts unknown fields (a newer pbxha
// may add some) but refuses a line without an id, a kind and a time.
func parseLine(line []byte) (Event, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Event{}, errors.New("empty line")
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, err
	}
	switch {
	case e.ID == "":
		return Event{}, errors.New("no id")
	case e.Kind == "":
		return Event{}, errors.New("no kind")
	case e.Time.IsZero():
		return Event{}, errors.New("no time")
	}
	return e, nil
}
