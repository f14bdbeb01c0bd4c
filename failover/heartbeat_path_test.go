package failover

import (
	"testing"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// BenchmarkHeartbeatPath: one heartbeat of a pair at rest, sent and taken
// in: encoded into the sender's reused buffer, admitted by the reader's
// filter and received by the tracker. At rest it allocates nothing
// (-benchmem: 0 allocs/op); a heartbeat that names failing probes or a
// switchover allocates their names.
func BenchmarkHeartbeatPath(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr, err := NewPeerTracker(TrackerConfig{Cluster: "pbx-pair", Node: "node-b", Keys: Keys{Current: testKey}, Paths: 1,
		Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	h := Heartbeat{Cluster: "pbx-pair", Node: "node-a", Boot: BootID{1}, Epoch: 3, Role: RolePrimary, Health: probe.Healthy,
		Probes: ProbeSummary{OK: 2}, DB: DBPrimary, WAL: 1 << 30, Eligible: true, HeardBoot: BootID{2}, StepDown: DefaultStepDown}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(DefaultInterval)
		h.Seq++
		h.Sent, h.HeardSeq = now, h.Seq
		p, err := AppendEncode(buf[:0], testKey, h)
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Admit(0, p); err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := tr.receive(0, p, now.Add(time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}
