package sipcheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Final SIP status codes span 200..699; provisional 1xx replies never end a
// transaction, so they cannot be accepted or degraded.
const (
	minFinalCode = 200
	maxFinalCode = 699
)

// CodeSet is a set of final SIP status codes (200..699). The zero value is
// the empty set.
type CodeSet struct {
	bits [(maxFinalCode - minFinalCode + 64) / 64]uint64
}

// ParseCodes parses a comma-separated list of codes (404), classes (2xx) and
// inclusive ranges (500-599), such as "2xx,401,403,404". "none" is the empty
// set. The error names the offending item.
func ParseCodes(s string) (CodeSet, error) {
	var set CodeSet
	s = strings.TrimSpace(s)
	if s == "" {
		return set, errors.New(`empty code list (use "none" for no codes)`)
	}
	if strings.EqualFold(s, "none") {
		return set, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, err := parseCodeItem(item)
		if err != nil {
			return CodeSet{}, fmt.Errorf("codes %q: %w", s, err)
		}
		for c := lo; c <= hi; c++ {
			set.add(c)
		}
	}
	return set, nil
}

// MustParseCodes is ParseCodes for constants known to be valid; it panics on
// error.
func MustParseCodes(s string) CodeSet {
	set, err := ParseCodes(s)
	if err != nil {
		panic(err)
	}
	return set
}

// parseCodeItem returns the inclusive code range one list item stands for.
func parseCodeItem(item string) (lo, hi int, err error) {
	switch {
	case item == "":
		return 0, 0, errors.New("empty item")
	case strings.EqualFold(item, "none"):
		return 0, 0, errors.New(`"none" must stand alone`)
	case len(item) == 3 && strings.EqualFold(item[1:], "xx"):
		d := item[0]
		if d < '1' || d > '6' {
			return 0, 0, fmt.Errorf("%q: class must be 2xx to 6xx", item)
		}
		if d == '1' {
			return 0, 0, fmt.Errorf("%q: provisional replies are never final", item)
		}
		base := int(d-'0') * 100
		return base, base + 99, nil
	case strings.Contains(item, "-"):
		a, b, _ := strings.Cut(item, "-")
		if lo, err = parseCode(strings.TrimSpace(a)); err != nil {
			return 0, 0, err
		}
		if hi, err = parseCode(strings.TrimSpace(b)); err != nil {
			return 0, 0, err
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("%q: range runs backwards", item)
		}
		return lo, hi, nil
	default:
		c, err := parseCode(item)
		return c, c, err
	}
}

func parseCode(s string) (int, error) {
	if len(s) != 3 {
		return 0, fmt.Errorf("%q is not a code (NNN), class (Nxx) or range (NNN-MMM)", s)
	}
	c, err := strconv.Atoi(s)
	if err != nil || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%q is not a code (NNN), class (Nxx) or range (NNN-MMM)", s)
	}
	if c < minFinalCode {
		return 0, fmt.Errorf("%d: provisional replies are never final", c)
	}
	if c > maxFinalCode {
		return 0, fmt.Errorf("%d: SIP status codes end at %d", c, maxFinalCode)
	}
	return c, nil
}

func (s *CodeSet) add(code int) {
	i := code - minFinalCode
	s.bits[i/64] |= 1 << (i % 64)
}

// Has reports whether code is in the set.
func (s CodeSet) Has(code int) bool {
	if code < minFinalCode || code > maxFinalCode {
		return false
	}
	i := code - minFinalCode
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// IsEmpty reports whether the set holds no code.
func (s CodeSet) IsEmpty() bool { return s == CodeSet{} }

// Overlap returns the lowest code in both sets, or 0 when they are disjoint.
func (s CodeSet) Overlap(o CodeSet) int {
	for c := minFinalCode; c <= maxFinalCode; c++ {
		if s.Has(c) && o.Has(c) {
			return c
		}
	}
	return 0
}

// String returns the canonical form that ParseCodes reads back to the same
// set: whole classes as "2xx", runs of three or more as "500-502", "none"
// for the empty set.
func (s CodeSet) String() string {
	if s.IsEmpty() {
		return "none"
	}
	var parts []string
	for class := 2; class <= 6; class++ {
		base := class * 100
		full := true
		for c := base; c < base+100; c++ {
			if !s.Has(c) {
				full = false
				break
			}
		}
		if full {
			parts = append(parts, fmt.Sprintf("%dxx", class))
			continue
		}
		for c := base; c < base+100; c++ {
			if !s.Has(c) {
				continue
			}
			end := c
			for end+1 < base+100 && s.Has(end+1) {
				end++
			}
			switch end - c {
			case 0:
				parts = append(parts, strconv.Itoa(c))
			case 1:
				parts = append(parts, strconv.Itoa(c), strconv.Itoa(end))
			default:
				parts = append(parts, fmt.Sprintf("%d-%d", c, end))
			}
			c = end
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText encodes the set in its String form.
func (s CodeSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a set with ParseCodes.
func (s *CodeSet) UnmarshalText(b []byte) error {
	set, err := ParseCodes(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}
