package probe

import "testing"

func TestAggregate(t *testing.T) {
	crit := func(s Status) CheckState { return CheckState{Critical: true, State: s} }
	soft := func(s Status) CheckState { return CheckState{State: s} }
	tests := []struct {
		name   string
		states []CheckState
		want   Health
	}{
		{"no probes", nil, Healthy},
		{"all ok", []CheckState{crit(OK), soft(OK)}, Healthy},
		{"critical failed", []CheckState{crit(Failed), soft(OK)}, HealthFailed},
		{"critical failed beats unknown", []CheckState{crit(Unknown), crit(Failed)}, HealthFailed},
		{"critical degraded", []CheckState{crit(Degraded), soft(OK)}, HealthDegraded},
		{"non-critical failed", []CheckState{crit(OK), soft(Failed)}, HealthDegraded},
		{"non-critical without a verdict yet", []CheckState{crit(OK), soft(Unknown)}, Healthy},
		{"non-critical degraded", []CheckState{crit(OK), soft(Degraded)}, HealthDegraded},
		{"critical unknown at start-up", []CheckState{crit(Unknown), soft(OK)}, HealthUnknown},
		{"critical unknown beats degraded", []CheckState{soft(Failed), crit(Unknown)}, HealthUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Aggregate(tc.states); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
