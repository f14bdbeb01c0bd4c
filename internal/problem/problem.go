// Package problem is the one shape of a configuration problem — the key and
// what is wrong with it — that the packages configured from pbxha's file
// (vip, supervisor, dbrole, alert) list, and that configs prints as
// FILE: KEY: MSG.
package problem

import (
	"errors"
	"fmt"
)

// Problem is one thing wrong with a configuration: the key, relative to
// the package's section (address, endpoints[0].url...), and what is wrong
// with it, lowercase.
type Problem struct {
	Key string
	Msg string
}

// String renders the problem as KEY: MSG.
func (p Problem) String() string { return p.Key + ": " + p.Msg }

// List collects problems in the order they are found.
type List []Problem

// Add appends a problem about key.
func (l *List) Add(key, format string, args ...any) {
	*l = append(*l, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Err joins the problems into one error, one line each prefixed with
// prefix ("vip: config: "), or returns nil when there are none.
func (l List) Err(prefix string) error {
	errs := make([]error, 0, len(l))
	for _, p := range l {
		errs = append(errs, errors.New(prefix+p.String()))
	}
	return errors.Join(errs...)
}

// Innermost returns the error at the end of err's chain of wrappers: the
// cause a problem names, without the wrappers that repeat the value.
func Innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
