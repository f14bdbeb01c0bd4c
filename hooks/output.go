package hooks

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Output limits.
const (
	// OutputLimit is how many bytes of a hook's combined stdout and stderr
	// are kept in Result.Output; the rest is read and dropped.
	OutputLimit     = 16 << 10
	summaryLines    = 3   // lines of output quoted in an error
	summaryLineSize = 200 // bytes kept of each quoted line
)

// boundedBuffer keeps the first limit bytes written to it and counts the
// rest. It is safe for concurrent writes (stdout and stderr share it).
type boundedBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	b.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// result returns the kept text and whether anything was dropped.
func (b *boundedBuffer) result() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf), b.dropped > 0
}

// Summary returns the first non-blank lines of a hook's output, trimmed,
// control characters blanked, each cut to a bounded length on a rune
// boundary, joined with " | ", so
// that an error or log line can quote them. Invalid UTF-8 is replaced.
func Summary(output string) string {
	var lines []string
	for line := range strings.Lines(output) {
		if line = cleanLine(line); line != "" {
			lines = append(lines, line)
			if len(lines) == summaryLines {
				break
			}
		}
	}
	return strings.Join(lines, " | ")
}

// Tail returns the last non-blank lines of a hook's output, cleaned and
// joined as Summary does them. Commands that print their verdict last (a
// fence agent, a cloud CLI) are best quoted by their tail. Output past
// OutputLimit was not kept, so Tail is the tail of what was.
func Tail(output string) string {
	var lines []string
	for line := range strings.Lines(output) {
		if line = cleanLine(line); line != "" {
			lines = append(lines, line)
			if len(lines) > summaryLines {
				lines = lines[1:]
			}
		}
	}
	return strings.Join(lines, " | ")
}

// cleanLine trims one line of output, blanks its control characters,
// replaces invalid UTF-8 and cuts it to summaryLineSize bytes on a rune
// boundary.
func cleanLine(line string) string {
	line = strings.TrimSpace(strings.Map(printable, strings.ToValidUTF8(line, "\uFFFD")))
	if len(line) > summaryLineSize {
		cut := summaryLineSize
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "…"
	}
	return line
}

// printable turns control characters (escape sequences, carriage returns)
// into spaces, so quoted output cannot rewrite a terminal or a log line.
func printable(r rune) rune {
	if unicode.IsControl(r) {
		return ' '
	}
	return r
}
