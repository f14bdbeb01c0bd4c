package esl

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/esl/esltest"
)

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantType string
		wantBody string
		wantErr  error
	}{
		{name: "auth request", in: esltest.AuthRequest, wantType: "auth/request"},
		{name: "command reply", in: esltest.AuthAccepted, wantType: "command/reply"},
		{name: "api response", in: esltest.APIResponse("12 total.\n"), wantType: "api/response", wantBody: "12 total.\n"},
		{name: "disconnect notice", in: esltest.DisconnectNotice, wantType: "text/disconnect-notice",
			wantBody: "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"},
		{name: "rude rejection", in: esltest.RudeRejection, wantType: "text/rude-rejection", wantBody: "Access Denied, go away.\n"},
		{name: "CRLF and leading blank lines", in: "\r\n\nContent-Type: api/response\r\nContent-Length: 2\r\n\r\nok", wantType: "api/response", wantBody: "ok"},
		{name: "empty body", in: "Content-Type: api/response\nContent-Length: 0\n\n", wantType: "api/response"},
		{name: "clean end of stream", in: "", wantErr: io.EOF},
		{name: "end inside headers", in: "Content-Type: api/resp", wantErr: ErrMalformed},
		{name: "end before blank line", in: "Content-Type: api/response\n", wantErr: ErrMalformed},
		{name: "truncated body", in: "Content-Type: api/response\nContent-Length: 10\n\nabc", wantErr: ErrMalformed},
		{name: "garbage", in: "\x00\xffgarbage\n\n", wantErr: ErrMalformed},
		{name: "no colon", in: "HTTP/1.1 200 OK\n\n", wantErr: ErrMalformed},
		{name: "space in key", in: "Content Type: x\n\n", wantErr: ErrMalformed},
		{name: "negative length", in: "Content-Type: api/response\nContent-Length: -1\n\n", wantErr: ErrMalformed},
		{name: "huge length", in: "Content-Type: api/response\nContent-Length: 999999999999\n\n", wantErr: ErrMalformed},
		{name: "two lengths", in: "Content-Length: 1\nContent-Length: 2\n\nab", wantErr: ErrMalformed},
		{name: "too many headers", in: strings.Repeat("X-A: b\n", maxHeaderLines+1) + "\n", wantErr: ErrMalformed},
		{name: "endless blank lines", in: strings.Repeat("\n", maxLeadingCRLF+2), wantErr: ErrMalformed},
		{name: "over-long line", in: "X-A: " + strings.Repeat("b", readBufSize) + "\n\n", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readFrame(bufio.NewReaderSize(strings.NewReader(tt.in), readBufSize))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := contentType(f); got != tt.wantType {
				t.Errorf("got Content-Type %q, want %q", got, tt.wantType)
			}
			if got := string(f.Body); got != tt.wantBody {
				t.Errorf("got body %q, want %q", got, tt.wantBody)
			}
		})
	}
}

// TestReadFrameSequence reads back-to-back frames from one stream, as a
// connection delivers them.
func TestReadFrameSequence(t *testing.T) {
	in := esltest.AuthRequest + esltest.AuthInvalid + esltest.DisconnectNotice
	br := bufio.NewReaderSize(strings.NewReader(in), readBufSize)
	for i, want := range []string{"auth/request", "command/reply", "text/disconnect-notice"} {
		f, err := readFrame(br)
		if err != nil {
			t.Fatalf("frame %d: got err %v, want none", i, err)
		}
		if got := contentType(f); got != want {
			t.Errorf("frame %d: got %q, want %q", i, got, want)
		}
	}
	if _, err := readFrame(br); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: got %v, want io.EOF", err)
	}
}
