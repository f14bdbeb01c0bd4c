package event

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxha/pbxha/internal/testenv"
)

var logT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func logEvent(i int) Event {
	at := logT0.Add(time.Duration(i) * time.Minute)
	return Event{ID: fmt.Sprintf("%016x-%012d", at.UnixNano(), i), Kind: RoleChange, Severity: Warning, Node: "node-a", Cluster: "prod", Time: at,
		Summary: fmt.Sprintf("change %d", i), Details: map[string]any{"n": float64(i)}}
}

func openLog(t *testing.T, path string, max int) *Log {
	t.Helper()
	l, err := OpenLog(path, Retention{Keep: max}, nil)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	return l
}

func TestLogWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "events.jsonl")
	l := openLog(t, path, 100)
	for i := range 10 {
		l.Publish(logEvent(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		since     time.Time
		wantFirst int
		wantN     int
	}{
		{name: "all", wantFirst: 0, wantN: 10},
		{name: "since an event's own time", since: logT0.Add(7 * time.Minute), wantFirst: 7, wantN: 3},
		{name: "since after the last", since: logT0.Add(time.Hour), wantN: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadLog(path, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d events, want %d", len(got), tt.wantN)
			}
			for i, e := range got {
				want := logEvent(tt.wantFirst + i)
				if e.ID != want.ID || e.Summary != want.Summary || e.Severity != Warning || !e.Time.Equal(want.Time) || e.Details["n"] != want.Details["n"] {
					t.Errorf("event %d: got %+v, want %+v", i, e, want)
				}
			}
		})
	}
	l.Publish(logEvent(99))
	if l.Dropped() != 1 {
		t.Errorf("publish after close: got dropped %d, want 1", l.Dropped())
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestReadLogSkipsGarbage(t *testing.T) {
	var buf bytes.Buffer
	buf.Write(encodeLine(logEvent(0)))
	buf.WriteString("not json\n\n{\"id\":\"no-kind\",\"time\":\"2025-03-01T12:00:00Z\"}\n")
	buf.Write([]byte{0xff, 0xfe, '\n'})
	buf.Write(encodeLine(logEvent(1)))
	torn := encodeLine(logEvent(2))
	buf.Write(torn[:len(torn)/2]) // a crash mid-line
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLog(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Summary != "change 0" || got[1].Summary != "change 1" {
		t.Fatalf("got %+v, want events 0 and 1", got)
	}
	// Appending after the torn line: the next event starts on its own line.
	l := openLog(t, path, 100)
	l.Publish(logEvent(3))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ = ReadLog(path, time.Time{})
	if len(got) != 3 || got[2].Summary != "change 3" {
		t.Errorf("after append: got %d events (last %+v), want 3 ending with change 3", len(got), got[len(got)-1])
	}
}

func TestReadLogMissing(t *testing.T) {
	_, err := ReadLog(filepath.Join(t.TempDir(), "none.jsonl"), time.Time{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "event: read log") {
		t.Errorf("got %v, want an event: read log error wrapping os.ErrNotExist", err)
	}
}

func TestLogCompaction(t *testing.T) {
	const max, total = 5, 37
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l := openLog(t, path, max)
	for i := range total {
		l.Publish(logEvent(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen and add more: the line count survives a restart.
	l = openLog(t, path, max)
	for i := total; i < total+3; i++ {
		l.Publish(logEvent(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLog(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < max || len(got) > 2*max {
		t.Fatalf("after compaction: got %d events, want between %d and %d", len(got), max, 2*max)
	}
	for i, e := range got {
		want := fmt.Sprintf("change %d", total+3-len(got)+i)
		if e.Summary != want {
			t.Errorf("event %d: got %q, want %q (the newest, in order)", i, e.Summary, want)
		}
	}
	if tmp, _ := filepath.Glob(path + ".tmp"); len(tmp) != 0 {
		t.Errorf("temporary file left: %v", tmp)
	}
}

func TestOpenLogErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		max     int
		wantErr string
	}{
		{name: "no room", path: filepath.Join(dir, "x.jsonl"), max: 0, wantErr: "want at least 1"},
		{name: "path is a directory", path: dir, max: 10, wantErr: "event: log " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := OpenLog(tt.path, Retention{Keep: tt.max}, nil)
			if err == nil {
				l.Close()
				t.Fatalf("got nil, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLogUnencodableDetails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l := openLog(t, path, 10)
	e := logEvent(0)
	e.Details = map[string]any{"ch": make(chan int), "ok": "yes"}
	l.Publish(e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := ReadLog(path, time.Time{})
	if len(got) != 1 || got[0].Details["ok"] != "yes" || got[0].Details["ch"] == nil {
		t.Errorf("got %+v, want the event with its details printed", got)
	}
}

func FuzzParseLine(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/log/*.jsonl")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"id":"x","kind":"test","time":"2025-03-01T12:00:00Z"}`))
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := parseLine(line)
		if err != nil {
			return
		}
		// What parses is written back as a line that parses to the same event.
		again, err := parseLine(encodeLine(e))
		if err != nil {
			t.Fatalf("re-parse %s: %v", encodeLine(e), err)
		}
		if again.ID != e.ID || again.Kind != e.Kind || !again.Time.Equal(e.Time) || again.Severity != e.Severity {
			t.Fatalf("round trip: got %+v, want %+v", again, e)
		}
	})
}

// TestLogRetentionByAge: events older than MaxAge are dropped at open and
// once the oldest ages past it (with a tenth of slack); what stays is in
// time order even when written out of order.
func TestLogRetentionByAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogName)
	now := time.Now()
	old := Event{ID: "1", Kind: Test, Time: now.Add(-48 * time.Hour)}
	newer := Event{ID: "2", Kind: Test, Time: now.Add(-time.Minute)}
	newest := Event{ID: "3", Kind: Test, Time: now.Add(-2 * time.Minute)} // written last, older than newer
	var b []byte
	for _, e := range []Event{newer, old, newest} {
		b = append(b, encodeLine(e)...)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLog(path, time.Time{})
	if err != nil || len(got) != 3 || got[0].ID != "1" || got[1].ID != "3" || got[2].ID != "2" {
		t.Fatalf("ReadLog: got %v, %v; want 1, 3, 2 in time order", ids(got), err)
	}
	// time.Now is the real clock in OpenLog; a day's MaxAge drops "1",
	// which is 48 hours older than the fixed now, and now is in the past.
	l, err := OpenLog(path, Retention{Keep: 10, MaxAge: 24*time.Hour + time.Since(now)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ = ReadLog(path, time.Time{})
	if len(got) != 2 || got[0].ID != "3" || got[1].ID != "2" {
		t.Errorf("after open with max age 1 day: got %v, want 3, 2", ids(got))
	}
}

// TestFollow: the events already there come first, marked old and in time
// order; appended ones follow, also across a compaction that renames a new
// file over the log, without repeats.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogName)
	l, err := OpenLog(path, Retention{Keep: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now()
	l.Publish(Event{ID: "b", Kind: Test, Time: now.Add(-time.Second)})
	l.Publish(Event{ID: "a", Kind: Test, Time: now.Add(-2 * time.Second)})
	testenv.WaitFor(t, 5*time.Second, "two events written", func() bool { got, _ := ReadLog(path, time.Time{}); return len(got) == 2 })

	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var seen []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, 10*time.Millisecond, func(e Event, old bool) {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s:%v", e.ID, old))
			mu.Unlock()
		})
	}()
	got := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(seen, " ") }
	testenv.WaitFor(t, 5*time.Second, "the old events", func() bool { return got() == "a:true b:true" })
	// Keep 2: the third and fourth events make the writer compact (lines > 4
	// after the sixth), renaming a new file over the log.
	for i, id := range []string{"c", "d", "e", "f"} {
		l.Publish(Event{ID: id, Kind: Test, Time: now.Add(time.Duration(i) * time.Millisecond)})
		testenv.WaitFor(t, 5*time.Second, "event "+id+" followed", func() bool { return strings.HasSuffix(got(), id+":false") })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "a:true b:true c:false d:false e:false f:false"; got() != want {
		t.Errorf("got %q, want %q", got(), want)
	}
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}
