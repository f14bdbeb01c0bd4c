package control

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWriteTextSyncAndRebuild: the sync and rebuild lines of pbxha status.
func TestWriteTextSyncAndRebuild(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	synced := now.Add(-42 * time.Second)
	st := Status{Now: now, StartedAt: now.Add(-time.Hour),
		Sync: &Sync{Direction: "pull", Reason: "pulling from node-a", Peer: "10.1.1.1:8873", Directories: []SyncDir{
			{Name: "recordings", State: "ok", LastSuccess: &synced, LastFiles: 3, LastBytes: 1258291, RateBps: 901120},
			{Name: "voicemail", State: "refused", Lagging: true, LastError: "refused by the source: empty\nmore"},
		}},
		Rebuild: &Rebuild{State: "running", Phase: "cloning", Reason: "operator", From: "node-a", Percent: 25,
			DoneBytes: 25 << 20, TotalBytes: 100 << 20, RateBps: 10 << 20, ETASeconds: 7.5},
	}
	var b bytes.Buffer
	WriteText(&b, st)
	for _, want := range []string{
		"sync pull  peer 10.1.1.1:8873  pulling from node-a\n",
		"  recordings  ok  synced 42s ago (3 files, 1.2 MiB at 880.0 KiB/s)\n",
		"  voicemail  refused  never synced  LAGGING  last error: refused by the source: empty\n",
		"standby rebuild running from node-a (operator)  cloning  25%  25.0 MiB of 100.0 MiB at 10.0 MiB/s  ETA 8s\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWriteText renders a pair node's status and checks what an operator
// reads: the one cluster table, the PBX line, the pending restart, the
// whole refused reload, and failure details told once.
func TestWriteText(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	heard := now.Add(-200 * time.Millisecond)
	lag := uint64(0)
	st := Status{
		Node: "node-b", Cluster: "pbx", Mode: "pair", Role: "standby", Health: "degraded", Version: "1.0.0",
		StartedAt: now.Add(-time.Hour), Now: now,
		Config: Config{Source: "/etc/pbxha/pbxha.yaml", PendingRestart: []string{"node.cluster", "hooks"},
			LastReloadError: "invalid configuration:\n/etc/pbxha/pbxha.yaml: log.level: \"loud\" is not debug, info, warn or error"},
		PBX: &PBX{Mode: "exec", State: "running", PID: 42, StartedAt: &heard, RestartsInWindow: 0, MaxRestarts: 3, Window: "10m0s", LastExit: "exit status 0"},
		Pair: &Pair{Epoch: 7, Reason: "standing by", Nodes: []ClusterNode{
			{Node: "node-b", Self: true, Alive: true, Role: "standby", Health: "degraded", Epoch: 7, DB: "standby", LagBytes: &lag, PBX: "running pid 42", Probes: "2 ok, 1 failed: trunk"},
			{Node: "node-a", Alive: true, Role: "primary", Health: "healthy", Epoch: 7, DB: "primary", Probes: "3 ok", LastHeard: &heard},
		}},
		Probes: []Probe{{Name: "trunk", Kind: "tcp", State: "failed", Since: now.Add(-time.Minute),
			Last: &Result{Status: "failed", Detail: "connection refused", Class: "refused", Error: "tcp: connect 127.0.0.1:5080: connection refused"}}},
	}
	var b bytes.Buffer
	WriteText(&b, st)
	out := b.String()
	for _, want := range []string{
		"  NODE    ROLE     HEALTH    EPOCH  DB       LAG  PBX             PROBES                 HEARD\n",
		"* node-b  standby  degraded  7      standby  0 B  running pid 42  2 ok, 1 failed: trunk  this node\n",
		"  node-a  primary  healthy   7      primary  -    -               3 ok                   200ms ago\n",
		"restarts 0/3 in 10m0s  last exit status 0\n",
		"pending restart: node.cluster, hooks changed in the file",
		"last reload refused; the running config stays:\n  invalid configuration:\n  /etc/pbxha/pbxha.yaml: log.level: \"loud\" is not",
		"tcp: connect 127.0.0.1:5080: connection refused\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "refused") != 2 { // the reload line, the trunk's error once
		t.Errorf("got %d mentions of refused, want the failure told once:\n%s", strings.Count(out, "refused"), out)
	}
}

// TestWriteNodesLag: the cluster table gives a standby's lag in the unit of
// its database: bytes of WAL, or MariaDB/MySQL transactions.
func TestWriteNodesLag(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, wal string
		lag       *uint64
		want      string
	}{
		{"postgresql", "0/3000060", ptr(uint64(128)), "  128 B  "},
		{"mariadb", "gtid 42", ptr(uint64(3)), "  3 tx  "},
		{"unknown", "", nil, "standby  -  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeNodes(&b, now, []ClusterNode{{Node: "node-b", Self: true, Role: "standby", DB: "standby", WAL: tc.wal, LagBytes: tc.lag}})
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("got %q, want it to contain %q", b.String(), tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
