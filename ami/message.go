package ami

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits that keep a garbage-spewing peer from growing a message without end.
const (
	maxLineBytes    = 16 << 10 // one "Key: Value" line, without its CRLF
	maxFields       = 1024     // lines in one message
	maxMessageBytes = 1 << 20  // a whole message
	maxBlankLines   = 64       // empty lines tolerated before a message starts
)

// ErrProtocol reports bytes that are not a well-formed AMI message or an
// answer that breaks the protocol (no banner, a response without ActionID).
var ErrProtocol = errors.New("malformed AMI message")

// Field is one "Key: Value" line of a message.
type Field struct {
	Key   string
	Value string
}

// Message is one AMI action, response or event: its fields in wire order.
// Keys may repeat; lookups are case-insensitive, as in Asterisk.
type Message struct {
	Fields []Field
}

// Get returns the value of the first field named key (case-insensitive), or
// "" when there is none.
func (m Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the value of the first field named key (case-insensitive)
// and whether the field is present.
func (m Message) Lookup(key string) (string, bool) {
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value, true
		}
	}
	return "", false
}

// IsEvent reports whether m is an unsolicited event (it has an Event field).
func (m Message) IsEvent() bool {
	_, ok := m.Lookup("Event")
	return ok
}

// AppendEncode appends the wire form of m to dst: each field as
// "Key: Value\r\n", then an empty "\r\n" line. It fails when a key is empty or
// holds a colon, or when a key or value holds CR or LF, which would let one
// field inject others.
func (m Message) AppendEncode(dst []byte) ([]byte, error) {
	if len(m.Fields) == 0 {
		return dst, fmt.Errorf("%w: empty message", ErrProtocol)
	}
	for _, f := range m.Fields {
		switch {
		case f.Key == "" || strings.TrimSpace(f.Key) != f.Key:
			return dst, fmt.Errorf("ami: encode field %q: key is empty or padded", f.Key)
		case strings.ContainsAny(f.Key, ":\r\n"):
			return dst, fmt.Errorf("ami: encode field %q: key holds a colon or line break", f.Key)
		case strings.ContainsAny(f.Value, "\r\n"):
			return dst, fmt.Errorf("ami: encode field %q: value holds a line break", f.Key)
		}
		dst = append(dst, f.Key...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...), nil
}

// ReadMessage reads one message from r: "Key: Value" lines up to an empty
// line. Empty lines before the first field are skipped. Lines may end in CRLF
// (what Asterisk sends) or a bare LF. It returns io.EOF when r ends cleanly
// between messages, io.ErrUnexpectedEOF when it ends inside one, and an error
// wrapping ErrProtocol for a line without a colon, control characters, or a
// line, field count or message size over the limits.
func ReadMessage(r *bufio.Reader) (Message, error) {
	var m Message
	size, blanks := 0, 0
	for {
		line, err := readLine(r, maxLineBytes)
		if err != nil {
			if errors.Is(err, io.EOF) && (len(m.Fields) > 0 || blanks > 0) {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
		size += len(line) + 2
		if size > maxMessageBytes {
			return Message{}, fmt.Errorf("%w: message longer than %d bytes", ErrProtocol, maxMessageBytes)
		}
		if len(line) == 0 {
			if len(m.Fields) > 0 {
				return m, nil
			}
			blanks++
			if blanks > maxBlankLines {
				return Message{}, fmt.Errorf("%w: more than %d empty lines", ErrProtocol, maxBlankLines)
			}
			continue
		}
		if len(m.Fields) == maxFields {
			return Message{}, fmt.Errorf("%w: more than %d fields", ErrProtocol, maxFields)
		}
		f, err := parseField(line)
		if err != nil {
			return Message{}, err
		}
		m.Fields = append(m.Fields, f)
	}
}

// parseField splits "Key: Value". Leading blanks of the value are dropped, as
// Asterisk's astman_get_header does; the key is trimmed.
func parseField(line string) (Field, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return Field{}, fmt.Errorf("%w: control byte 0x%02x in line %s", ErrProtocol, c, quoteShort(line))
		}
	}
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return Field{}, fmt.Errorf("%w: line without colon %s", ErrProtocol, quoteShort(line))
	}
	k = strings.TrimSpace(k)
	if k == "" {
		return Field{}, fmt.Errorf("%w: empty key in line %s", ErrProtocol, quoteShort(line))
	}
	return Field{Key: k, Value: strings.TrimLeft(v, " \t")}, nil
}

// readLine reads one line of at most max bytes and returns it without its
// line ending (LF or CRLF).
func readLine(r *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, max)
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		return "", fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, max)
	}
	return string(line), nil
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const n = 48
	if len(s) > n {
		return fmt.Sprintf("%q...", s[:n])
	}
	return fmt.Sprintf("%q", s)
}
