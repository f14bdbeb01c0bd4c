package probe

import "testing"

func state(kind Kind, critical bool, st Status) CheckState {
	return CheckState{Kind: kind, Critical: critical, State: st}
}

// TestPBXFailed: the supervisor's hang signal counts failed critical probes
// of the PBX, not of its database.
func TestPBXFailed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		states []CheckState
		want   bool
	}{
		{"sip failed", []CheckState{state(KindSIP, true, Failed), state(KindPG, true, OK)}, true},
		{"only pg failed", []CheckState{state(KindSIP, true, OK), state(KindPG, true, Failed)}, false},
		{"non-critical esl failed", []CheckState{state(KindESL, false, Failed)}, false},
		{"all ok", []CheckState{state(KindSIP, true, OK)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PBXFailed(tc.states); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDatabaseOnlyFailed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		states []CheckState
		want   bool
	}{
		{"all ok", []CheckState{state(KindSIP, true, OK), state(KindPG, true, OK)}, false},
		{"only pg failed", []CheckState{state(KindSIP, true, OK), state(KindPG, true, Failed)}, true},
		{"sip and pg failed", []CheckState{state(KindSIP, true, Failed), state(KindPG, true, Failed)}, false},
		{"only sip failed", []CheckState{state(KindSIP, true, Failed), state(KindPG, true, OK)}, false},
		{"non-critical tcp failed beside pg", []CheckState{state(KindTCP, false, Failed), state(KindPG, true, Failed)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DatabaseOnlyFailed(tc.states); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestActiveCalls(t *testing.T) {
	with := func(kind Kind, calls float64) CheckState {
		return CheckState{Kind: kind, Last: &Result{Values: map[string]float64{"calls": calls}}}
	}
	for _, tc := range []struct {
		name        string
		states      []CheckState
		calls       int
		wantCounted bool
	}{
		{"no probes", nil, 0, false},
		{"sip only: nothing counts calls", []CheckState{with(KindSIP, 3)}, 0, false},
		{"esl without a result yet", []CheckState{{Kind: KindESL}}, 0, false},
		{"esl idle", []CheckState{with(KindESL, 0)}, 0, true},
		{"esl and ami", []CheckState{with(KindESL, 2), with(KindAMI, 5), with(KindTCP, 9)}, 7, true},
		{"esl result without a call count", []CheckState{{Kind: KindESL, Last: &Result{}}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, counted := ActiveCalls(tc.states)
			if calls != tc.calls || counted != tc.wantCounted {
				t.Errorf("got %d, %v, want %d, %v", calls, counted, tc.calls, tc.wantCounted)
			}
		})
	}
}
