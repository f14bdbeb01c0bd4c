package probe

import (
	"testing"
	"time"
)

func TestPGStateDetail(t *testing.T) {
	sb := func(state string) PGStandby { return PGStandby{Name: "s", State: state} }
	tests := []struct {
		name string
		st   PGState
		want string
	}{
		{"primary with standby and write", PGState{Role: PGRolePrimary, CurrentLSN: 0x3000060,
			Standbys: []PGStandby{sb("streaming")}, Wrote: true, WriteLatency: 400 * time.Microsecond},
			"primary, wal 0/3000060, 1 standby streaming, write 0.4 ms"},
		{"primary alone without write", PGState{Role: PGRolePrimary, CurrentLSN: 0x16_B374D848},
			"primary, wal 16/B374D848, no standbys"},
		{"primary with mixed standbys", PGState{Role: PGRolePrimary, CurrentLSN: 1,
			Standbys: []PGStandby{sb("streaming"), sb("catchup"), sb("streaming"), sb("")}},
			"primary, wal 0/1, 4 standbys (2 streaming, 1 catchup, 1 unknown)"},
		{"standby caught up", PGState{Role: PGRoleStandby, InRecovery: true, Streaming: true, ReplayDelay: 200 * time.Millisecond},
			"standby, replay lag 0 B, delay 0.2s"},
		{"standby paused and not streaming", PGState{Role: PGRoleStandby, InRecovery: true, ReplayPaused: true,
			LagBytes: 3 << 20, ReplayDelay: 12 * time.Second},
			"standby, replay lag 3.0 MiB, delay 12.0s, replay paused, not streaming"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.st.detail(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPGStateValues(t *testing.T) {
	tests := []struct {
		name string
		st   PGState
		want map[string]float64
	}{
		{"primary", PGState{Role: PGRolePrimary, CurrentLSN: 0x3000060, LagBytes: 96,
			Standbys: []PGStandby{{State: "streaming"}, {State: "catchup"}}, Wrote: true, WriteLatency: 2 * time.Millisecond},
			map[string]float64{"in_recovery": 0, "lag_bytes": 96, "replay_delay_seconds": 0, "standbys": 1,
				"wal_lsn": 0x3000060, "write_latency_seconds": 0.002}},
		{"standby uses received position", PGState{Role: PGRoleStandby, InRecovery: true, ReceiveLSN: 0x200, ReplayLSN: 0x100,
			LagBytes: 0x100, ReplayDelay: 1500 * time.Millisecond},
			map[string]float64{"in_recovery": 1, "lag_bytes": 256, "replay_delay_seconds": 1.5, "standbys": 0, "wal_lsn": 0x200}},
		{"standby never streamed", PGState{Role: PGRoleStandby, InRecovery: true, ReplayLSN: 0x100},
			map[string]float64{"in_recovery": 1, "lag_bytes": 0, "replay_delay_seconds": 0, "standbys": 0, "wal_lsn": 0x100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.st.values()
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if g, ok := got[k]; !ok || g != w {
					t.Errorf("%s: got %g (present %v), want %g", k, g, ok, w)
				}
			}
		})
	}
}

func TestFmtBytes(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{16 << 20, "16.0 MiB"}, {5 << 30, "5.0 GiB"}, {1 << 63, "8.0 EiB"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := fmtBytes(tc.in); got != tc.want {
				t.Errorf("fmtBytes(%d): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
