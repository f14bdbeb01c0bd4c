package esl

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/probe"
)

func TestJudge(t *testing.T) {
	parse := func(name string) Status {
		s, err := ParseStatus(fixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sofia := func(name string) SofiaStatus {
		s, err := ParseSofiaStatus(fixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name       string
		cfg        Config
		r          reading
		want       probe.Status
		wantDetail string
		wantReason string // substring of the first reason
		wantValues map[string]float64
		wantAbsent []string // values a version does not print
	}{
		{
			name:       "ready, profiles running, calls counted",
			cfg:        Config{Profiles: []string{"internal", "external"}, CountCalls: true},
			r:          reading{status: parse("status-1.10.txt"), sofia: sofia("sofia-status-1.10.txt"), calls: 3, hasCalls: true},
			want:       probe.OK,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, 3 calls, internal RUNNING, external RUNNING",
			wantValues: map[string]float64{
				"uptime_seconds": 312.034056, "sessions": 3, "sessions_peak": 5, "max_sessions": 1000, "sps": 0,
				"idle_cpu": 97.43, "calls": 3, "profiles_running": 2, "profiles_down": 0,
			},
		},
		{
			name:       "no required profiles lists every profile",
			r:          reading{status: parse("status-1.10.txt"), sofia: sofia("sofia-status-1.10.txt")},
			want:       probe.OK,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, external RUNNING, internal RUNNING",
		},
		{
			name:       "required profile by alias",
			cfg:        Config{Profiles: []string{"192.0.2.10"}},
			r:          reading{status: parse("status-1.10.txt"), sofia: sofia("sofia-status-1.10.txt")},
			want:       probe.OK,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, 192.0.2.10 RUNNING",
		},
		{
			name:       "not ready",
			r:          reading{status: parse("status-1.10-not-ready.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.Failed,
			wantDetail: "FreeSWITCH not ready, 0/1000 sessions",
			wantReason: "FreeSWITCH is not ready",
		},
		{
			name:       "required profile absent",
			cfg:        Config{Profiles: []string{"internal", "external"}},
			r:          reading{status: parse("status-1.10.txt"), sofia: sofia("sofia-status-internal-only.txt")},
			want:       probe.Failed,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, internal RUNNING, external absent",
			wantReason: "profile external is not running",
			wantValues: map[string]float64{"profiles_running": 1, "profiles_down": 1},
		},
		{
			name:       "required profile DOWN",
			cfg:        Config{Profiles: []string{"external"}},
			r:          reading{status: parse("status-1.10.txt"), sofia: sofia("sofia-status-down.txt")},
			want:       probe.Failed,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, external DOWN",
			wantReason: "profile external is DOWN",
			wantValues: map[string]float64{"profiles_running": 1, "profiles_down": 1},
		},
		{
			name:       "sofia unreadable with required profiles",
			cfg:        Config{Profiles: []string{"internal"}},
			r:          reading{status: parse("status-1.10.txt"), sofiaErr: errors.New("-ERR sofia Command not found!")},
			want:       probe.Failed,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions, sofia status unreadable",
			wantReason: "profiles internal cannot be checked",
		},
		{
			name:       "sofia unreadable without required profiles",
			r:          reading{status: parse("status-1.10.txt"), sofiaErr: errors.New("-ERR sofia Command not found!")},
			want:       probe.OK,
			wantDetail: "FreeSWITCH ready, 3/1000 sessions",
		},
		{
			name:       "sessions above share",
			cfg:        Config{MaxSessionsShare: 0.9},
			r:          reading{status: parse("status-1.8-busy.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.Degraded,
			wantDetail: "FreeSWITCH ready, 4759/5000 sessions",
			wantReason: "4759/5000 sessions exceed 90% of max sessions",
		},
		{
			name: "sessions below share",
			cfg:  Config{MaxSessionsShare: 0.99},
			r:    reading{status: parse("status-1.8-busy.txt"), sofia: sofia("sofia-status-empty.txt")},
			want: probe.OK,
		},
		{
			name:       "idle CPU below configured floor",
			cfg:        Config{MinIdleCPU: 5},
			r:          reading{status: parse("status-1.8-busy.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.Degraded,
			wantReason: "idle CPU 3.07% below 5%",
		},
		{
			name:       "idle CPU below FreeSWITCH's own floor",
			r:          reading{status: parse("status-cpu-floor.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.Degraded,
			wantReason: "below FreeSWITCH's floor of 10.00%: new calls are refused",
		},
		{
			name:       "sessions at the limit",
			r:          reading{status: Status{HasReady: true, Ready: true, Sessions: 1000, HasSessions: true, MaxSessions: 1000, HasMax: true}},
			want:       probe.Degraded,
			wantReason: "1000 sessions reach the limit of 1000",
		},
		{
			name:       "failed outranks degraded",
			cfg:        Config{Profiles: []string{"wss"}, MaxSessionsShare: 0.5},
			r:          reading{status: parse("status-1.8-busy.txt"), sofia: sofia("sofia-status-1.10.txt")},
			want:       probe.Failed,
			wantReason: "profile wss is not running",
		},
		{
			name:       "1.0 output without ready line or max",
			r:          reading{status: parse("status-1.0-html-prefix.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.OK,
			wantDetail: "FreeSWITCH up, 1 sessions",
			wantAbsent: []string{"sessions_peak", "max_sessions", "idle_cpu", "calls"},
		},
		{
			name:       "1.2 output without peaks",
			r:          reading{status: parse("status-1.2.txt"), sofia: sofia("sofia-status-empty.txt")},
			want:       probe.OK,
			wantDetail: "FreeSWITCH ready, 2/1000 sessions",
			wantValues: map[string]float64{"sessions": 2, "sps": 1, "max_sessions": 1000, "idle_cpu": 96},
			wantAbsent: []string{"sessions_peak"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.cfg, tt.r)
			if v.status != tt.want {
				t.Errorf("got status %s (%v), want %s", v.status, v.reasons, tt.want)
			}
			if tt.wantDetail != "" && v.detail != tt.wantDetail {
				t.Errorf("got detail %q, want %q", v.detail, tt.wantDetail)
			}
			if tt.want == probe.OK && len(v.reasons) != 0 {
				t.Errorf("got reasons %q, want none", v.reasons)
			}
			if tt.wantReason != "" && (len(v.reasons) == 0 || !strings.Contains(v.reasons[0], tt.wantReason)) {
				t.Errorf("got reasons %q, want the first to contain %q", v.reasons, tt.wantReason)
			}
			for _, k := range tt.wantAbsent {
				if got, ok := v.values[k]; ok {
					t.Errorf("got %s=%v, want it absent", k, got)
				}
			}
			for k, want := range tt.wantValues {
				if got, ok := v.values[k]; !ok || abs(got-want) > 1e-6 {
					t.Errorf("got %s=%v (present %v), want %v; all: %v", k, got, ok, want, maps.Collect(maps.All(v.values)))
				}
			}
		})
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
