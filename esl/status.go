package esl

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrNotStatus means a body is not the output of "status".
var ErrNotStatus = errors.New("not a status output")

// Status is what FreeSWITCH's "status" command reports. Numbers a version
// does not print stay zero and their Has flag false.
type Status struct {
	Uptime  time.Duration // from "UP 0 years, 0 days, 5 hours, ..."
	Version string        // "1.10.9 -release 64bit" from "FreeSWITCH (Version ...) is ready"; empty before 1.4

	Ready    bool // the "is ready" line says ready
	HasReady bool // the output has a ready / not ready line (1.2 and later)

	SessionsSinceStartup int64 // "12 session(s) since startup": lifetime count, not load
	Sessions             int   // current sessions: "3 session(s) - peak 5, last 5min 4"
	SessionsPeak         int   // peak since startup (1.4 and later)
	SessionsPeak5Min     int   // peak over the last five minutes (1.4 and later)
	HasSessions          bool
	HasPeak              bool // the peaks were printed (1.4 and later)

	SPS         int // sessions created in the last second
	SPSMax      int // the configured limit of sessions per second
	SPSPeak     int // peak since startup (1.4 and later)
	SPSPeak5Min int // peak over the last five minutes (1.4 and later)
	HasSPS      bool
	MaxSessions int // "1000 session(s) max"
	HasMax      bool
	MinIdleCPU  float64 // the configured floor FreeSWITCH itself enforces, percent
	IdleCPU     float64 // measured idle CPU, percent
	HasIdleCPU  bool
	HasUptime   bool
}

// ParseStatus reads the output of "status" as printed by FreeSWITCH 1.0
// through 1.10 (and forks that keep its wording). Unknown lines are ignored;
// the body must contain at least the uptime or the ready line.
func ParseStatus(body string) (Status, error) {
	var s Status
	if strings.HasPrefix(body, "-ERR") {
		first, _, _ := strings.Cut(body, "\n")
		return s, fmt.Errorf("%w: %q", ErrNotStatus, strings.TrimSpace(first))
	}
	for raw := range strings.Lines(body) {
		line := strings.TrimSpace(stripTags(raw))
		switch {
		case strings.HasPrefix(line, "UP "):
			if d, ok := parseUptime(line[3:]); ok {
				s.Uptime, s.HasUptime = d, true
			}
		case strings.HasSuffix(line, " is ready"):
			s.Ready, s.HasReady = true, true
			s.Version = versionOf(line)
		case strings.HasSuffix(line, " is not ready"):
			s.Ready, s.HasReady = false, true
			s.Version = versionOf(line)
		case strings.HasSuffix(line, "session(s) since startup"):
			if n, ok := leadingInt64(line); ok {
				s.SessionsSinceStartup = n
			}
		case strings.Contains(line, "session(s) per Sec"):
			// "0 session(s) per Sec out of max 30, peak 2, last 5min 1"
			if n, ok := leadingInt(line); ok {
				s.SPS, s.HasSPS = n, true
				s.SPSMax, _ = intAfter(line, "out of max ")
				s.SPSPeak, _ = intAfter(line, "peak ")
				s.SPSPeak5Min, _ = intAfter(line, "last 5min ")
			}
		case strings.Contains(line, "session(s) - peak"):
			// "3 session(s) - peak 5, last 5min 4"
			if n, ok := leadingInt(line); ok {
				s.Sessions, s.HasSessions, s.HasPeak = n, true, true
				s.SessionsPeak, _ = intAfter(line, "peak ")
				s.SessionsPeak5Min, _ = intAfter(line, "last 5min ")
			}
		case strings.HasSuffix(line, "session(s) max"):
			if n, ok := leadingInt(line); ok {
				s.MaxSessions, s.HasMax = n, true
			}
		case strings.HasPrefix(line, "min idle cpu "):
			lo, hi, ok := strings.Cut(strings.TrimPrefix(line, "min idle cpu "), "/")
			a, errA := strconv.ParseFloat(strings.TrimSpace(lo), 64)
			b, errB := strconv.ParseFloat(strings.TrimSpace(hi), 64)
			if ok && errA == nil && errB == nil && finite(a) && finite(b) {
				s.MinIdleCPU, s.IdleCPU, s.HasIdleCPU = a, b, true
			}
		case strings.HasPrefix(line, "Current Stack Size/Max "):
			// Thread stack sizes say nothing about health.
		default:
			// 1.0 and 1.2: "3 session(s) 0/30" is current sessions, then
			// sessions in the last second / the per-second limit.
			if cur, rest, ok := strings.Cut(line, " session(s) "); ok {
				last, limit, ok2 := strings.Cut(rest, "/")
				n, errN := strconv.Atoi(cur)
				l, errL := strconv.Atoi(last)
				m, errM := strconv.Atoi(limit)
				if ok2 && errN == nil && errL == nil && errM == nil && n >= 0 {
					s.Sessions, s.HasSessions = n, true
					s.SPS, s.SPSMax, s.HasSPS = l, m, true
				}
			}
		}
	}
	if !s.HasUptime && !s.HasReady {
		return s, ErrNotStatus
	}
	return s, nil
}

// parseUptime reads "0 years, 0 days, 5 hours, 12 minutes, 3 seconds, 34
// milliseconds, 56 microseconds". FreeSWITCH counts a year as 365 days. A
// value too large for a Duration saturates.
func parseUptime(s string) (time.Duration, bool) {
	const day = 24 * time.Hour
	units := map[string]time.Duration{
		"year": 365 * day, "day": day, "hour": time.Hour, "minute": time.Minute,
		"second": time.Second, "millisecond": time.Millisecond, "microsecond": time.Microsecond,
	}
	var total time.Duration
	seen := 0
	for part := range strings.SplitSeq(s, ",") {
		num, unit, ok := strings.Cut(strings.TrimSpace(part), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 32)
		mult, known := units[strings.TrimSuffix(strings.TrimSpace(unit), "s")]
		if err != nil || !known {
			continue
		}
		seen++
		if n > 0 && uint64(math.MaxInt64-total)/uint64(mult) < n {
			total = math.MaxInt64
			continue
		}
		total += time.Duration(n) * mult
	}
	return total, seen > 0
}

// versionOf returns the text of "(Version X)" in the ready line.
func versionOf(line string) string {
	_, v, ok := strings.Cut(line, "(Version ")
	if !ok {
		return ""
	}
	if i := strings.LastIndex(v, ")"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// leadingInt parses the number a line starts with.
func leadingInt(line string) (int, bool) {
	num, _, _ := strings.Cut(line, " ")
	n, err := strconv.ParseInt(num, 10, 32)
	return int(n), err == nil && n >= 0
}

func leadingInt64(line string) (int64, bool) {
	num, _, _ := strings.Cut(line, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err == nil && n >= 0
}

// intAfter parses the number that follows the first occurrence of label.
func intAfter(line, label string) (int, bool) {
	_, rest, ok := strings.Cut(line, label)
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		rest = rest[:end]
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	return int(n), err == nil
}

// stripTags removes the <h1>/<b> markup FreeSWITCH adds to "status html".
func stripTags(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
