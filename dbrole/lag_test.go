package dbrole

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/probe"
)

func TestCheckLag(t *testing.T) {
	const maxLag = 8 << 10
	tests := []struct {
		name           string
		local, peer    probe.LSN
		override       bool
		wantLag        uint64
		wantOverridden bool
		wantErr        string // substring; empty means promote
	}{
		{"caught up", 0x3000060, 0x3000060, false, 0, false, ""},
		{"ahead of peer", 0x3000100, 0x3000060, false, 0, false, ""},
		{"behind within limit", 0x3000000, 0x3000000 + maxLag, false, maxLag, false, ""},
		{"one byte over", 0x3000000, 0x3000000 + maxLag + 1, false, maxLag + 1, false,
			"dbrole: promote db: local wal 0/3000000 is 8193 bytes behind peer wal 0/3002001 (max_lag_bytes 8192): not promoting without force or allow_lag: standby too far behind"},
		{"over, overridden", 0x3000000, 0x4000000, true, 0x1000000, true, ""},
		{"peer unknown", 0x3000000, 0, false, 0, false,
			"dbrole: promote db: peer wal position unknown, local wal 0/3000000: not promoting without force or allow_lag: standby too far behind"},
		{"peer unknown, overridden", 0x3000000, 0, true, 0, true, ""},
		{"across a segment boundary", 0xFFFFFF00, 0x1_00000100, false, 0x200, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lag, overridden, err := checkLag("db", tc.local, tc.peer, maxLag, tc.override)
			if lag != tc.wantLag || overridden != tc.wantOverridden {
				t.Errorf("got lag %d, overridden %v; want %d, %v", lag, overridden, tc.wantLag, tc.wantOverridden)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("error: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrTooFarBehind) {
				t.Fatalf("error: got %v, want ErrTooFarBehind", err)
			}
			var le *LagError
			if !errors.As(err, &le) || le.Local != tc.local || le.Peer != tc.peer || le.Lag != tc.wantLag || le.MaxLag != maxLag {
				t.Errorf("LagError: got %+v, want local %s peer %s lag %d", le, tc.local, tc.peer, tc.wantLag)
			}
			if got := err.Error(); !strings.Contains(got, tc.wantErr) {
				t.Errorf("error: got %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// FuzzCheckLag checks the promotion rule's invariants over any positions:
// without an override a promotion is allowed only with a known peer
// position at most maxLag ahead; with one it is always allowed; the lag is
// the distance to the peer.
func FuzzCheckLag(f *testing.F) {
	f.Add(uint64(0x3000060), uint64(0x3000060), uint64(1<<20), false)
	f.Add(uint64(0x3000000), uint64(0x3002001), uint64(8192), false)
	f.Add(uint64(0x3000000), uint64(0), uint64(8192), true)
	f.Add(uint64(1<<63), uint64(0), uint64(1), false)
	f.Fuzz(func(t *testing.T, local, peer, maxLag uint64, override bool) {
		lag, overridden, err := checkLag("db", probe.LSN(local), probe.LSN(peer), maxLag, override)
		wantLag := uint64(0)
		if peer > local {
			wantLag = peer - local
		}
		if lag != wantLag {
			t.Fatalf("lag: got %d, want %d", lag, wantLag)
		}
		allowed := peer != 0 && lag <= maxLag
		switch {
		case allowed && (err != nil || overridden):
			t.Fatalf("within limit: got overridden %v, err %v; want a plain promotion", overridden, err)
		case !allowed && override && (err != nil || !overridden):
			t.Fatalf("over limit with override: got overridden %v, err %v; want overridden", overridden, err)
		case !allowed && !override && !errors.Is(err, ErrTooFarBehind):
			t.Fatalf("over limit: got %v, want ErrTooFarBehind", err)
		}
	})
}
