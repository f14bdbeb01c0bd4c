package alert

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/event"
)

func TestOutboxWriteLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ops")
	box, recs, _, problems, err := loadOutbox(dir)
	if err != nil || len(recs) != 0 || len(problems) != 0 {
		t.Fatalf("empty outbox: got %d records, %v, %v; want none", len(recs), problems, err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// Written out of order: same time, sequences 3, 1, 2; and one earlier.
	for _, w := range []struct {
		at  time.Time
		seq uint64
	}{{now, 3}, {now, 1}, {now, 2}, {now.Add(-time.Second), 9}} {
		e := event.Event{ID: event.NewID(w.at), Kind: event.Failover, Time: w.at, Details: map[string]any{"seq": float64(w.seq)}}
		if _, err := box.write(record{Version: recordVersion, Endpoint: "ops", Seq: w.seq, Queued: w.at, Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	if err := box.syncDir(); err != nil {
		t.Fatal(err)
	}
	_, recs, paths, problems, err := loadOutbox(dir)
	if err != nil || len(problems) != 0 {
		t.Fatalf("load: %v %v", problems, err)
	}
	var got []float64
	for _, r := range recs {
		got = append(got, r.Event.Details["seq"].(float64))
	}
	if !slices.Equal(got, []float64{9, 1, 2, 3}) {
		t.Errorf("order: got %v, want [9 1 2 3] (queued time, then sequence)", got)
	}
	if !slices.IsSorted(paths) {
		t.Errorf("file names: got %v, want them to sort in queue order", paths)
	}
	for _, p := range paths {
		if err := box.remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := box.remove(paths[0]); err != nil {
		t.Errorf("removing a missing file: got %v, want nil", err)
	}
}

func TestDecodeRecord(t *testing.T) {
	valid := `{"v":1,"endpoint":"ops","seq":1,"queued":"2025-03-01T12:00:00Z","event":{"id":"x","kind":"failover","severity":"critical","node":"a","cluster":"c","time":"2025-03-01T12:00:00Z","summary":"s"}}`
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "valid", in: valid},
		{name: "valid with newline", in: valid + "\n"},
		{name: "empty", in: "", wantErr: "decode"},
		{name: "torn", in: valid[:len(valid)/2], wantErr: "decode"},
		{name: "trailing data", in: valid + valid, wantErr: "trailing data"},
		{name: "future version", in: strings.Replace(valid, `"v":1`, `"v":2`, 1), wantErr: "version 2"},
		{name: "no id", in: strings.Replace(valid, `"id":"x"`, `"id":""`, 1), wantErr: "no id"},
		{name: "no kind", in: strings.Replace(valid, `"kind":"failover"`, `"kind":""`, 1), wantErr: "no kind"},
		{name: "no queued time", in: strings.Replace(valid, `"queued":"2025-03-01T12:00:00Z",`, ``, 1), wantErr: "no queued time"},
		{name: "unknown field", in: strings.Replace(valid, `"v":1`, `"v":1,"x":2`, 1), wantErr: "unknown field"},
		{name: "bad severity", in: strings.Replace(valid, `"critical"`, `"fatal"`, 1), wantErr: "severity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeRecord([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil || r.Event.ID != "x" || r.Event.Severity != event.Critical {
					t.Fatalf("got %+v, %v; want the record", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/outbox/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive the outbox round trip unchanged.
		dir := t.TempDir()
		box := outbox{dir: dir}
		path, err := box.write(r)
		if err != nil {
			t.Fatalf("write a decoded record: %v", err)
		}
		raw, _ := os.ReadFile(path)
		again, err := decodeRecord(raw)
		if err != nil {
			t.Fatalf("decode what was written: %v\n%s", err, raw)
		}
		if again.Event.ID != r.Event.ID || again.Seq != r.Seq || !again.Queued.Equal(r.Queued) {
			t.Fatalf("round trip: got %+v, want %+v", again, r)
		}
	})
}
