package esl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNotCallsCount means a body is not the output of "show calls count".
var ErrNotCallsCount = errors.New("not a show calls count output")

// ParseCallsCount reads the output of "show calls count": "N total." on its
// own line, which FreeSWITCH precedes by a blank line. The last such line
// counts.
func ParseCallsCount(body string) (int, error) {
	if strings.HasPrefix(body, "-ERR") {
		first, _, _ := strings.Cut(body, "\n")
		return 0, fmt.Errorf("%w: %q", ErrNotCallsCount, strings.TrimSpace(first))
	}
	n, found := 0, false
	for raw := range strings.Lines(body) {
		num, ok := strings.CutSuffix(strings.TrimSpace(raw), " total.")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 32)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%w: count %q", ErrNotCallsCount, clip([]byte(num)))
		}
		n, found = int(v), true
	}
	if !found {
		return 0, ErrNotCallsCount
	}
	return n, nil
}
