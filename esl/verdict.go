package esl

import (
	"fmt"
	"strings"

	"github.com/pbxha/pbxha/probe"
)

// reading is what one check read from FreeSWITCH.
type reading struct {
	status   Status
	sofia    SofiaStatus
	sofiaErr error // "sofia status" failed or did not parse (mod_sofia not loaded...)
	calls    int
	hasCalls bool
}

// verdict is the judgement of one reading.
type verdict struct {
	status  probe.Status
	detail  string   // "FreeSWITCH ready, 12/1000 sessions, 3 calls, internal RUNNING"
	reasons []string // why the status is not OK, worst first
	values  map[string]float64
}

// judge turns a reading into a verdict. It is a pure function of its inputs.
//
// Failed: FreeSWITCH says it is not ready, or a required profile is missing
// from "sofia status", not RUNNING, or cannot be read at all.
// Degraded: sessions exceed MaxSessionsShare of max sessions, sessions reach
// max sessions (FreeSWITCH refuses new calls), idle CPU is below MinIdleCPU, or
// idle CPU is below FreeSWITCH's own floor (it refuses new calls).
func judge(cfg Config, r reading) verdict {
	v := verdict{status: probe.OK, values: map[string]float64{}}
	var failed, degraded []string
	s := r.status

	var parts []string
	switch {
	case s.HasReady && s.Ready:
		parts = append(parts, "FreeSWITCH ready")
	case s.HasReady:
		parts = append(parts, "FreeSWITCH not ready")
		failed = append(failed, "FreeSWITCH is not ready")
	default:
		parts = append(parts, "FreeSWITCH up")
	}
	if s.HasUptime {
		v.values["uptime_seconds"] = s.Uptime.Seconds()
	}
	if s.HasSessions {
		v.values["sessions"] = float64(s.Sessions)
		if s.HasPeak {
			v.values["sessions_peak"] = float64(s.SessionsPeak)
		}
		if s.HasMax {
			parts = append(parts, fmt.Sprintf("%d/%d sessions", s.Sessions, s.MaxSessions))
		} else {
			parts = append(parts, fmt.Sprintf("%d sessions", s.Sessions))
		}
	}
	if s.HasMax {
		v.values["max_sessions"] = float64(s.MaxSessions)
	}
	if s.HasSPS {
		v.values["sps"] = float64(s.SPS)
	}
	if s.HasIdleCPU {
		v.values["idle_cpu"] = s.IdleCPU
	}
	if r.hasCalls {
		v.values["calls"] = float64(r.calls)
		parts = append(parts, fmt.Sprintf("%d calls", r.calls))
	}

	if s.HasSessions && s.HasMax && s.MaxSessions > 0 {
		switch share := float64(s.Sessions) / float64(s.MaxSessions); {
		case s.Sessions >= s.MaxSessions:
			degraded = append(degraded, fmt.Sprintf("%d sessions reach the limit of %d: new calls are refused", s.Sessions, s.MaxSessions))
		case cfg.MaxSessionsShare > 0 && share > cfg.MaxSessionsShare:
			degraded = append(degraded, fmt.Sprintf("%d/%d sessions exceed %g%% of max sessions", s.Sessions, s.MaxSessions, 100*cfg.MaxSessionsShare))
		}
	}
	if s.HasIdleCPU {
		switch {
		case s.MinIdleCPU > 0 && s.IdleCPU < s.MinIdleCPU:
			degraded = append(degraded, fmt.Sprintf("idle CPU %.2f%% below FreeSWITCH's floor of %.2f%%: new calls are refused", s.IdleCPU, s.MinIdleCPU))
		case cfg.MinIdleCPU > 0 && s.IdleCPU < cfg.MinIdleCPU:
			degraded = append(degraded, fmt.Sprintf("idle CPU %.2f%% below %g%%", s.IdleCPU, cfg.MinIdleCPU))
		}
	}

	if r.sofiaErr == nil {
		running, down := 0, 0
		for _, p := range r.sofia.Profiles {
			if p.State == StateRunning {
				running++
			} else {
				down++
			}
		}
		names := cfg.Profiles
		if len(names) == 0 {
			for _, p := range r.sofia.Profiles {
				names = append(names, p.Name)
			}
		}
		for _, name := range cfg.Profiles {
			p, ok := r.sofia.Profile(name)
			switch {
			case !ok:
				down++ // a stopped profile leaves the table
				failed = append(failed, fmt.Sprintf("profile %s is not running (absent from sofia status)", name))
			case p.State != StateRunning:
				failed = append(failed, fmt.Sprintf("profile %s is %s", name, p.State))
			}
		}
		for _, name := range names {
			if p, ok := r.sofia.Profile(name); ok {
				parts = append(parts, name+" "+p.State)
			} else {
				parts = append(parts, name+" absent")
			}
		}
		v.values["profiles_running"] = float64(running)
		v.values["profiles_down"] = float64(down)
	} else if len(cfg.Profiles) > 0 {
		failed = append(failed, fmt.Sprintf("profiles %s cannot be checked: %v", strings.Join(cfg.Profiles, ", "), r.sofiaErr))
		parts = append(parts, "sofia status unreadable")
	}

	v.detail = strings.Join(parts, ", ")
	switch {
	case len(failed) > 0:
		v.status = probe.Failed
	case len(degraded) > 0:
		v.status = probe.Degraded
	}
	v.reasons = append(failed, degraded...)
	return v
}
