package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"

	"github.com/percipia/eslgo"
)

// Content types FreeSWITCH sends on an inbound connection. eslgo names the
// common ones; the rejection type it does not know.
const (
	typeAuthRequest   = eslgo.TypeAuthRequest // "auth/request", the greeting
	typeReply         = eslgo.TypeReply       // "command/reply"
	typeAPIResponse   = eslgo.TypeAPIResponse // "api/response"
	typeDisconnect    = eslgo.TypeDisconnect  // "text/disconnect-notice"
	typeRudeRejection = "text/rude-rejection" // ACL denied this client
)

// Limits that keep a hostile or broken peer from making the reader allocate
// without bound. A large "sofia status" (thousands of gateways) is a few
// hundred kilobytes, far below maxBody.
const (
	maxHeaderLines = 64
	maxLeadingCRLF = 64
	maxBody        = 16 << 20
	readBufSize    = 16 << 10 // also the longest header line accepted
)

// ErrMalformed reports bytes that are not an ESL frame: a header line without
// a colon, a bad Content-Length, an over-long line or a body cut short.
var ErrMalformed = errors.New("malformed frame")

// frame is one message from FreeSWITCH: headers, then Content-Length bytes of
// body. eslgo's RawResponse models it, with its URL-unescaping header getters.
type frame = eslgo.RawResponse

// readFrame reads one frame: header lines up to a blank line (LF or CRLF
// endings, leading blank lines skipped), then exactly Content-Length bytes of
// body when that header is present. A clean end of stream before the first
// byte is io.EOF; anything else that is not a whole frame wraps ErrMalformed,
// except I/O errors (timeouts, resets), which are returned as they are.
func readFrame(br *bufio.Reader) (*frame, error) {
	hdr := textproto.MIMEHeader{}
	started := false
	for blanks, lines := 0, 0; ; {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !started && len(line) == 0 {
					return nil, io.EOF
				}
				return nil, fmt.Errorf("%w: stream ended inside the headers", ErrMalformed)
			}
			return nil, err
		}
		if len(line) == 0 {
			if started {
				break
			}
			if blanks++; blanks > maxLeadingCRLF {
				return nil, fmt.Errorf("%w: more than %d blank lines before a frame", ErrMalformed, maxLeadingCRLF)
			}
			continue
		}
		started = true
		if lines++; lines > maxHeaderLines {
			return nil, fmt.Errorf("%w: more than %d header lines", ErrMalformed, maxHeaderLines)
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		k = bytes.TrimSpace(k)
		if !ok || len(k) == 0 || !validKey(k) {
			return nil, fmt.Errorf("%w: header line %q", ErrMalformed, clip(line))
		}
		key := textproto.CanonicalMIMEHeaderKey(string(k))
		hdr[key] = append(hdr[key], string(bytes.TrimSpace(v)))
	}
	f := &frame{Headers: hdr}
	cl, ok := hdr["Content-Length"]
	if !ok {
		return f, nil
	}
	n, err := strconv.Atoi(cl[0])
	if err != nil || n < 0 || n > maxBody || len(cl) > 1 {
		return nil, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip([]byte(cl[0])))
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(br, f.Body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: body cut short of its Content-Length %d", ErrMalformed, n)
		}
		return nil, err
	}
	return f, nil
}

// readLine returns one line without its LF or CRLF ending. A final line with
// no ending is returned together with io.EOF.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: header line longer than %d bytes", ErrMalformed, readBufSize)
	}
	if err != nil {
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// validKey accepts the header names FreeSWITCH uses: printable ASCII without
// spaces or colons.
func validKey(k []byte) bool {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// clip shortens peer bytes quoted in an error.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// contentType returns the frame's Content-Type without URL unescaping.
func contentType(f *frame) string { return f.Headers.Get("Content-Type") }
