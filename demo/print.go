package demo

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// demoPrinter writes the demo's story: timestamped lines from the demo, the
// client and the sidecars, one stream.
type demoPrinter struct {
	w       io.Writer // safe for concurrent use
	start   time.Time
	verbose bool // every sidecar log line, not only the story's
}

func newDemoPrinter(w io.Writer, verbose bool) *demoPrinter {
	return &demoPrinter{w: &lockedWriter{w: w}, start: time.Now(), verbose: verbose}
}

// say prints one line from src ("demo", "client", a node name).
func (p *demoPrinter) say(src, format string, args ...any) {
	fmt.Fprintf(p.w, "%-7s %5.1fs  %s\n", src, time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// block prints lines as they are, for tables.
func (p *demoPrinter) block(lines []string) {
	fmt.Fprint(p.w, strings.Join(lines, "\n")+"\n")
}

// storyMessages are the sidecar log messages shown without --verbose:
// what the failover story is made of.
var storyMessages = map[string]bool{
	"pbxha started":       true,
	"probe state changed": true,
	"node health changed": true,
	"acting":              true,
	"role changed":        true,
	"up script succeeded": true,
}

// nodeLog returns the line handler of a sidecar's output: log lines shorn
// of time, node and component, filtered to the story unless verbose.
func (p *demoPrinter) nodeLog(node string) func(string) {
	return func(line string) {
		fields, ok := logfmt(line)
		if !ok {
			p.say(node, "%s", line) // not a log line: a crash, a panic
			return
		}
		var level, msg string
		var rest []string
		for _, f := range fields {
			switch f.key {
			case "time", "node", "component":
			case "level":
				level = f.text
			case "msg":
				msg = f.value
			default:
				rest = append(rest, f.key+"="+f.text)
			}
		}
		loud := level == "WARN" || level == "ERROR"
		if !p.verbose && !loud && !storyMessages[msg] {
			return
		}
		if msg == "role changed" && !p.verbose && !strings.Contains(line, "component=failover") {
			return // the agent's echo of the failover node's line
		}
		text := msg
		if level != "INFO" {
			text = level + " " + msg
		}
		p.say(node, "%s", strings.Join(append([]string{text}, rest...), " "))
	}
}

// logField is one key=value of a logfmt line; text is the value as
// written (quoted or not), value its unquoted form.
type logField struct{ key, text, value string }

// logfmt splits a log/slog text line into its fields. ok is false when the
// line does not start with time= or level=.
func logfmt(line string) (fields []logField, ok bool) {
	if !strings.HasPrefix(line, "time=") && !strings.HasPrefix(line, "level=") {
		return nil, false
	}
	for s := line; s != ""; {
		s = strings.TrimLeft(s, " ")
		key, after, found := strings.Cut(s, "=")
		if !found || key == "" || strings.Contains(key, " ") {
			return fields, len(fields) > 0
		}
		f := logField{key: key}
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return fields, len(fields) > 0
			}
			f.text = q
			f.value, _ = strconv.Unquote(q)
			s = after[len(q):]
		} else {
			f.text, s, _ = strings.Cut(after, " ")
			f.value = f.text
		}
		fields = append(fields, f)
	}
	return fields, true
}

// lockedWriter serialises writes from several goroutines to one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
