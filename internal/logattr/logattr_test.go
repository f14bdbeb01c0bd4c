package logattr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// keysOf decodes one JSON object and returns its top-level keys in order,
// failing on a repeated key as a strict shipper would.
func keysOf(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %q: not an object", line)
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprint(tok)
		if seen[k] {
			t.Errorf("line %q repeats key %q", line, k)
		}
		seen[k] = true
		keys = append(keys, k)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestOneValuePerKey(t *testing.T) {
	var buf bytes.Buffer
	root := slog.New(New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	daemon := root.With("node", "node-a")
	for _, tc := range []struct {
		name string
		log  func()
		want string
	}{
		{"component added twice", func() { daemon.With("component", "failover").With("component", "dbrole").Info("x") },
			`{"level":"INFO","msg":"x","node":"node-a","component":"dbrole"}`},
		{"record repeats a With key", func() { daemon.With("component", "failover").Info("x", "node", "node-a", "role", "primary") },
			`{"level":"INFO","msg":"x","component":"failover","node":"node-a","role":"primary"}`},
		{"record repeats its own key", func() { daemon.Info("x", "err", "a", "err", "b") },
			`{"level":"INFO","msg":"x","node":"node-a","err":"b"}`},
		{"no clash passes through", func() { daemon.Info("x", "probe", "sip") },
			`{"level":"INFO","msg":"x","node":"node-a","probe":"sip"}`},
		{"groups are apart", func() { daemon.WithGroup("g").Info("x", "node", "inner") },
			`{"level":"INFO","msg":"x","node":"node-a","g":{"node":"inner"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			tc.log()
			got := strings.TrimSpace(buf.String())
			keysOf(t, got)
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
