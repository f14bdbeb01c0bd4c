package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL write-ahead log position (pg_lsn): a byte offset into
// the WAL stream. The zero LSN is PostgreSQL's invalid position and stands for
// "not known" in PGState.
type LSN uint64

// String formats the LSN as PostgreSQL does: two upper-case hexadecimal
// halves without leading zeros, "0/3000060".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// BytesAfter returns how many bytes l is ahead of o, or 0 when o is at or
// past l.
func (l LSN) BytesAfter(o LSN) uint64 {
	if o >= l {
		return 0
	}
	return uint64(l - o)
}

// errLSNSyntax is wrapped by every ParseLSN error.
var errLSNSyntax = errors.New("want two groups of 1 to 8 hex digits separated by /")

// ParseLSN parses the text form of a pg_lsn ("16/B374D848") with the rules of
// PostgreSQL's pg_lsn_in: each half has 1 to 8 hexadecimal digits of either
// case, and nothing else is allowed.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || !lsnHalf(hi) || !lsnHalf(lo) {
		return 0, fmt.Errorf("pg: parse lsn %q: %w", s, errLSNSyntax)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pg: parse lsn %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pg: parse lsn %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// lsnHalf reports whether s is 1 to 8 hexadecimal digits.
func lsnHalf(s string) bool {
	if len(s) < 1 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
