package control

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWritePairPosition: the peer's database position in the pair lines,
// with the lag in the unit of its kind.
func TestWritePairPosition(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	heard := now.Add(-time.Second)
	tests := []struct {
		name, wal string
		lag       uint64
		want      string
	}{
		{"postgresql", "0/3000060", 128, "  wal 0/3000060  lag 128 B"},
		{"mariadb", "gtid 42", 3, "  gtid 42  lag 3 transactions"},
		{"no database", "", 0, "heard 1s ago\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writePair(&b, now, &Pair{Peer: PeerState{Node: "node-b", Alive: true, LastHeard: &heard, WAL: tc.wal, LagBytes: tc.lag}})
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("got %q, want it to contain %q", b.String(), tc.want)
			}
		})
	}
}
