package rebuild

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"sync"
)

// Progress is one reading of pg_basebackup --progress.
type Progress struct {
	DoneKB, TotalKB int64
	Percent         int
}

// progressRE is compiled at the first reading: compiled at start, its 6
// KiB of program stayed on the heap of every node, which rebuilds rarely.
var progressRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[^\d])(\d{1,18})/(\d{1,18}) kB \((\d{1,3})%\)`)
})

// ParseProgress reads one line of pg_basebackup --progress output,
// "  1234/105000 kB (1%), 0/1 tablespace" (a file name may follow); ok is
// false for any other line.
func ParseProgress(line string) (Progress, bool) {
	m := progressRE().FindStringSubmatch(line)
	if m == nil {
		return Progress{}, false
	}
	done, err1 := strconv.ParseInt(m[1], 10, 64)
	total, err2 := strconv.ParseInt(m[2], 10, 64)
	pct, err3 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return Progress{}, false
	}
	return Progress{DoneKB: done, TotalKB: total, Percent: pct}, true
}

// scanProgress calls fn for every progress line read from r (lines end in
// "\n" or, on a terminal, "\r") and returns the other lines, at most 20.
func scanProgress(r io.Reader, fn func(Progress)) []string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	var other []string
	for sc.Scan() {
		line := sc.Text()
		if p, ok := ParseProgress(line); ok {
			fn(p)
			continue
		}
		if len(bytes.TrimSpace([]byte(line))) > 0 && len(other) < 20 {
			other = append(other, line)
		}
	}
	return other
}
