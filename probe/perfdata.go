package probe

import (
	"math"
	"strconv"
	"strings"
)

// perfUnit returns the factor that scales a Nagios unit of measure to base
// units (seconds, bytes), and false for a unit it does not know.
func perfUnit(uom string) (float64, bool) {
	switch uom {
	case "", "s", "B", "%", "c":
		return 1, true
	case "ms":
		return 1e-3, true
	case "us":
		return 1e-6, true
	case "KB":
		return 1 << 10, true
	case "MB":
		return 1 << 20, true
	case "GB":
		return 1 << 30, true
	case "TB":
		return 1 << 40, true
	}
	return 0, false
}

// ParsePerfdata reads Nagios performance data, space-separated items of the
// form label=value[UOM];[warn];[crit];[min];[max] (the label optionally in
// single quotes), into a map from snake_case label to value. Times become
// seconds and sizes bytes (KB = 1024 B); percentages and counters stay as
// printed. Items it cannot read (no "=", "U" for unknown, a unit it does not
// know, a number out of range) are skipped; a later item with the same key
// wins.
func ParsePerfdata(s string) map[string]float64 {
	vals := map[string]float64{}
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return vals
		}
		var label string
		if s[0] == '\'' {
			l, rest, ok := cutQuotedLabel(s)
			if !ok {
				return vals // an unterminated quote swallows the rest
			}
			label, s = l, rest
		} else {
			i := strings.IndexAny(s, "= \t\r\n")
			if i < 0 {
				return vals
			}
			label, s = s[:i], s[i:]
		}
		if !strings.HasPrefix(s, "=") {
			s = skipToken(s)
			continue
		}
		s = s[1:]
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		item := s[:end]
		s = s[end:]
		value, _, _ := strings.Cut(item, ";")
		if v, ok := perfValue(value); ok {
			if k := perfKey(label); k != "" {
				vals[k] = v
			}
		}
	}
}

// cutQuotedLabel reads a quoted label (a doubled quote stands for one quote)
// from the start of s.
func cutQuotedLabel(s string) (label, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

func skipToken(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return s[i:]
	}
	return ""
}

// perfValue parses "12.5ms" into 0.0125.
func perfValue(s string) (float64, bool) {
	i := 0
	for i < len(s) && strings.IndexByte("0123456789.-+eE", s[i]) >= 0 {
		i++
	}
	num, unit := s[:i], s[i:]
	scale, ok := perfUnit(unit)
	if !ok || num == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	v *= scale
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// perfKey turns a label into a snake_case key: lowercase letters and digits,
// every other run of characters one underscore, none at either end.
func perfKey(label string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(label) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	return b.String()
}
