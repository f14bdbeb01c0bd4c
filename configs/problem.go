package configs

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration: where it came from, which
// key and what is wrong with it.
type Problem struct {
	File string // config file name, "embedded default", or "env PBXHA_X" for an environment override
	Key  string // key path such as probes.sip[0].timeout, "line 3" for a YAML syntax error, or empty
	Msg  string // what is wrong, lowercase, without a full stop
}

// String renders the problem as FILE: KEY: MSG (FILE: MSG when Key is empty).
func (p Problem) String() string {
	if p.Key == "" {
		return p.File + ": " + p.Msg
	}
	return p.File + ": " + p.Key + ": " + p.Msg
}

// Error is every problem found in one configuration. Load and Parse return it
// so that an operator can fix the whole file in one go.
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a configuration is read and checked.
type problems struct {
	list []Problem
	bad  map[string]bool // keys that already have a problem; later checks of them are skipped
}

func (ps *problems) add(file, key, format string, args ...any) {
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	if key != "" {
		if ps.bad[key] {
			return
		}
		ps.bad[key] = true
	}
	ps.list = append(ps.list, Problem{File: file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// mark records that key has a problem reported under another key (one of
// its items), so that later checks of key are skipped.
func (ps *problems) mark(key string) {
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	ps.bad[key] = true
}

// err returns an *Error holding the problems, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}
