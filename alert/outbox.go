package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
)

// recordVersion is the version of the outbox file format.
const recordVersion = 1

// record is one outbox file: one event queued for one endpoint.
type record struct {
	Version  int         `json:"v"`
	Endpoint string      `json:"endpoint"`
	Seq      uint64      `json:"seq"`    // order within the endpoint among events queued in the same nanosecond
	Queued   time.Time   `json:"queued"` // when it entered the outbox; max_age counts from here
	Event    event.Event `json:"event"`
}

// fileName names a record so that names sort in queue order.
func (r record) fileName() string {
	return fmt.Sprintf("%016x-%016x.json", uint64(r.Queued.UnixNano()), r.Seq)
}

// decodeRecord parses an outbox file. It refuses anything that is not a whole,
// current-version record with an event ID and kind, so a torn or foreign file
// is set aside rather than sent.
func decodeRecord(b []byte) (record, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return record{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return record{}, errors.New("decode: trailing data after the record")
	}
	switch {
	case r.Version != recordVersion:
		return record{}, fmt.Errorf("version %d: want %d", r.Version, recordVersion)
	case r.Event.ID == "":
		return record{}, errors.New("event has no id")
	case r.Event.Kind == "":
		return record{}, errors.New("event has no kind")
	case r.Queued.IsZero():
		return record{}, errors.New("no queued time")
	}
	return r, nil
}

// outbox is the folder of one endpoint's queued events.
type outbox struct {
	dir string
}

// corruptDir is where unreadable outbox files are moved, inside the endpoint's folder.
const corruptDir = "corrupt"

// loadOutbox creates dir if needed, removes temporary files left by a crash
// mid-write, moves unreadable files into dir/corrupt and returns the records
// in queue order with their paths. problems lists the files set aside.
func loadOutbox(dir string) (box outbox, recs []record, paths []string, problems []error, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return outbox{}, nil, nil, nil, fmt.Errorf("alert: outbox %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return outbox{}, nil, nil, nil, fmt.Errorf("alert: outbox %s: %w", dir, err)
	}
	box = outbox{dir: dir}
	type loaded struct {
		rec  record
		path string
	}
	var all []loaded
	for _, de := range entries {
		name := de.Name()
		path := filepath.Join(dir, name)
		switch {
		case de.IsDir():
			continue
		case strings.HasSuffix(name, ".tmp"):
			// A write that never reached its rename: the event was not yet
			// acknowledged to anyone, and its full copy is not on disk.
			_ = os.Remove(path)
			continue
		case !strings.HasSuffix(name, ".json"):
			continue
		}
		b, rerr := os.ReadFile(path)
		var rec record
		if rerr == nil {
			rec, rerr = decodeRecord(b)
		}
		if rerr != nil {
			moved, merr := box.setAside(path)
			if merr != nil {
				problems = append(problems, fmt.Errorf("alert: outbox %s: %w; cannot move it aside: %w", path, rerr, merr))
			} else {
				problems = append(problems, fmt.Errorf("alert: outbox %s: %w; moved to %s", path, rerr, moved))
			}
			continue
		}
		all = append(all, loaded{rec, path})
	}
	slices.SortFunc(all, func(a, b loaded) int {
		if c := a.rec.Queued.Compare(b.rec.Queued); c != 0 {
			return c
		}
		switch {
		case a.rec.Seq < b.rec.Seq:
			return -1
		case a.rec.Seq > b.rec.Seq:
			return 1
		}
		return strings.Compare(a.path, b.path)
	})
	for _, l := range all {
		recs = append(recs, l.rec)
		paths = append(paths, l.path)
	}
	return box, recs, paths, problems, nil
}

func (o outbox) setAside(path string) (string, error) {
	cd := filepath.Join(o.dir, corruptDir)
	if err := os.MkdirAll(cd, 0o750); err != nil {
		return "", err
	}
	to := filepath.Join(cd, filepath.Base(path))
	return to, os.Rename(path, to)
}

// write stores r durably: a temporary file is written and fsynced, then
// renamed into place. The caller fsyncs the folder (syncDir) once per batch
// before it counts the records as stored.
func (o outbox) write(r record) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("alert: outbox %s: encode event %s: %w", o.dir, r.Event.ID, err)
	}
	path := filepath.Join(o.dir, r.fileName())
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return "", fmt.Errorf("alert: outbox %s: %w", o.dir, err)
	}
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("alert: outbox %s: write event %s: %w", o.dir, r.Event.ID, werr)
	}
	return path, nil
}

// syncDir makes renames and removals in the folder durable.
func (o outbox) syncDir() error {
	d, err := os.Open(o.dir)
	if err != nil {
		return fmt.Errorf("alert: outbox %s: %w", o.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("alert: outbox %s: sync: %w", o.dir, err)
	}
	return nil
}

// remove deletes a delivered or dropped record. An empty path (an event that
// could not be written) and an already missing file are not errors.
func (o outbox) remove(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("alert: outbox %s: remove: %w", o.dir, err)
	}
	return nil
}
