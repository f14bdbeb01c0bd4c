package esltest

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestWireBytes checks the exact bytes the double exchanges with a raw
// client, against the frames mod_event_socket writes.
func TestWireBytes(t *testing.T) {
	type step struct {
		send string // written by the client; empty: nothing
		want string // bytes the server must answer with next
	}
	tests := []struct {
		name    string
		opts    Options
		steps   []step
		wantEOF bool // the server closes after the last step
	}{
		{
			name: "login and api with CRLF commands",
			opts: Options{Responses: map[string]string{"status": "UP 0 years\n"}},
			steps: []step{
				{want: AuthRequest},
				{send: "auth ClueCon\r\n\r\n", want: AuthAccepted},
				{send: "api status\r\n\r\n", want: "Content-Type: api/response\nContent-Length: 11\n\nUP 0 years\n"},
				{send: "\n\napi nosuch arg\n\n", want: "Content-Type: api/response\nContent-Length: 31\n\n-ERR nosuch Command not found!\n"},
				{send: "exit\n\n", want: Bye + DisconnectNotice},
			},
			wantEOF: true,
		},
		{
			name:    "wrong password",
			steps:   []step{{want: AuthRequest}, {send: "auth nope\n\n", want: AuthInvalid + DisconnectNotice}},
			wantEOF: true,
		},
		{
			name:  "api before auth",
			steps: []step{{want: AuthRequest}, {send: "api status\n\n", want: CommandNotFound}},
		},
		{
			name:  "empty output",
			opts:  Options{Responses: map[string]string{"x": ""}},
			steps: []step{{want: AuthRequest}, {send: "auth ClueCon\n\n", want: AuthAccepted}, {send: "api x\n\n", want: APIResponse("-ERR no reply\n")}},
		},
		{
			name:    "rude rejection",
			opts:    Options{Fault: FaultRudeRejection},
			steps:   []step{{want: RudeRejection + DisconnectNotice}},
			wantEOF: true,
		},
		{
			name:    "disconnect on command",
			opts:    Options{Fault: FaultDisconnectOnCommand, Responses: map[string]string{"status": "x"}},
			steps:   []step{{want: AuthRequest}, {send: "auth ClueCon\n\n", want: AuthAccepted}, {send: "api status\n\n", want: DisconnectNotice}},
			wantEOF: true,
		},
		{
			name:    "truncated reply",
			opts:    Options{Fault: FaultTruncatedReply, Responses: map[string]string{"status": "0123456789"}},
			steps:   []step{{want: AuthRequest}, {send: "auth ClueCon\n\n", want: AuthAccepted}, {send: "api status\n\n", want: APIHeader("0123456789") + "01234"}},
			wantEOF: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for i, st := range tt.steps {
				if st.send != "" {
					if _, err := io.WriteString(c, st.send); err != nil {
						t.Fatalf("step %d: write: %v", i, err)
					}
				}
				got := make([]byte, len(st.want))
				if _, err := io.ReadFull(br, got); err != nil {
					t.Fatalf("step %d: read %d bytes: %v (got %q)", i, len(st.want), err, got)
				}
				if string(got) != st.want {
					t.Fatalf("step %d: got %q, want %q", i, got, st.want)
				}
			}
			if tt.wantEOF {
				if b, err := br.ReadByte(); err != io.EOF {
					t.Errorf("got byte %q err %v, want EOF", b, err)
				}
			}
		})
	}
}

func TestCountsAndSilence(t *testing.T) {
	s, err := New(Options{Fault: FaultSilent})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("silent server: got %d bytes, %v, want a read timeout", n, err)
	}
	// Close ends the held connection and returns.
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a silent connection open")
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("got %d connections, want 1", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestResponseFunc: a command answered by a function gets what it returns
// at the moment of the command, ahead of a static response.
func TestResponseFunc(t *testing.T) {
	s, err := New(Options{Responses: map[string]string{"show calls count": "static"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := 0
	s.SetResponseFunc("show calls count", func() string { n++; return CountBody(n) })
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	expect := func(send, want string) {
		t.Helper()
		if send != "" {
			io.WriteString(c, send)
		}
		got := make([]byte, len(want))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("after %q: got %q (%v), want %q", send, got, err, want)
		}
	}
	expect("", AuthRequest)
	expect("auth ClueCon\n\n", AuthAccepted)
	expect("api show calls count\n\n", APIResponse("\n1 total.\n"))
	expect("api show calls count\n\n", APIResponse("\n2 total.\n"))
}
