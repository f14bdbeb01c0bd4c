package configs

import (
	"slices"
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
