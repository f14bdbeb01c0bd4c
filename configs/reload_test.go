package configs

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKeepRestartOnly: a reload keeps the running value of every
// restart-only key and names those that changed; other keys take the new
// value.
func TestKeepRestartOnly(t *testing.T) {
	running, err := Parse("running.yaml", []byte("node: {name: a, cluster: pair}\nprobes: {tcp: [{address: \"127.0.0.1:5060\"}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Parse("next.yaml", []byte("node: {name: a, cluster: other}\nhistory: 20\nprobes: {tcp: [{address: \"127.0.0.1:5060\"}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	next.Database.DSN, next.Alerts.MaxAge = "postgres://u:secret@127.0.0.1/db", time.Hour
	pending := KeepRestartOnly(running, next)
	if want := []string{"node.cluster", "alerts", "database"}; !slices.Equal(pending, want) {
		t.Errorf("pending: got %q, want %q", pending, want)
	}
	if next.Node.Cluster != "pair" || next.Database.DSN != "" || next.Alerts.MaxAge != running.Alerts.MaxAge {
		t.Errorf("restart-only keys not kept: cluster %q dsn %q", next.Node.Cluster, next.Database.DSN)
	}
	if next.History != 20 {
		t.Errorf("history: got %d, want the reloaded 20", next.History)
	}
	if p := KeepRestartOnly(running, running); len(p) != 0 {
		t.Errorf("same config: got pending %q, want none", p)
	}
	if n := len(RestartOnlyKeys()); n != len(restartOnly) {
		t.Errorf("RestartOnlyKeys: got %d keys, want %d", n, len(restartOnly))
	}
}

// TestRestartOnlyKeysDocumented: docs/configuration.md lists the keys a
// reload cannot change exactly as the code has them.
func TestRestartOnlyKeysDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "What takes effect only at the next start")
	end := strings.Index(doc, "The list lives in one place")
	if start < 0 || end < start {
		t.Fatal("docs/configuration.md lacks the paragraph on restart-only keys")
	}
	para := doc[start:end]
	keys := RestartOnlyKeys()
	for _, k := range keys {
		if !strings.Contains(para, "`"+k+"`") {
			t.Errorf("docs/configuration.md does not list restart-only key %s", k)
		}
	}
	for _, m := range regexp.MustCompile("`([a-z_.]+)`").FindAllStringSubmatch(para, -1) {
		if !slices.Contains(keys, m[1]) {
			t.Errorf("docs/configuration.md lists %s as restart-only; the code does not", m[1])
		}
	}
}
