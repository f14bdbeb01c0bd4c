// Package esltest is a FreeSWITCH event socket double for tests: it speaks
// the inbound ESL protocol byte for byte as mod_event_socket does (greeting,
// auth, api/response with Content-Length bodies, disconnect notices) and can
// misbehave the ways a hung, broken or hostile server does.
package esltest

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Frames exactly as mod_event_socket writes them.
const (
	AuthRequest      = "Content-Type: auth/request\n\n"
	AuthAccepted     = "Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
	AuthInvalid      = "Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"
	CommandNotFound  = "Content-Type: command/reply\nReply-Text: -ERR command not found\n\n"
	Bye              = "Content-Type: command/reply\nReply-Text: +OK bye\n\n"
	DisconnectNotice = "Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" +
		"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	RudeRejection = "Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
)

// DefaultPassword is the password of a Server whose Options leave it empty.
const DefaultPassword = "ClueCon"

// Fault is a misbehaviour of the server.
type Fault int

// Faults. FaultSilentReply and those after it apply to api commands after
// authentication; the others apply when a connection is accepted.
const (
	FaultNone                Fault = iota
	FaultSilent                    // accept, never send auth/request (a frozen FreeSWITCH: the kernel still accepts)
	FaultCloseOnAccept             // close right after accept
	FaultRudeRejection             // text/rude-rejection, disconnect notice, close (ACL deny)
	FaultSilentReply               // authenticate, then never answer an api command
	FaultTruncatedReply            // send the api/response headers and half the body, then close
	FaultTruncatedHang             // send the api/response headers and half the body, then nothing
	FaultGarbageReply              // answer an api command with bytes that are not a frame
	FaultWrongTypeReply            // answer an api command with a command/reply frame
	FaultDisconnectOnCommand       // answer an api command with a disconnect notice, then close
)

// Options configure a Server.
type Options struct {
	Password  string            // default DefaultPassword
	Responses map[string]string // api command ("status", "sofia status") -> body
	Fault     Fault
	Delays    map[string]time.Duration // api command -> delay before its reply
	// Funcs answer api commands with what they return at the moment of
	// the command; they take precedence over Responses.
	Funcs map[string]func() string
}

// Server is a running double bound to a loopback port. Its methods are safe
// for concurrent use; changes apply to commands that arrive afterwards.
type Server struct {
	ln   net.Listener
	done chan struct{}

	mu    sync.Mutex
	opts  Options
	conns map[net.Conn]struct{}
	log   []string // api commands received, in order

	accepted atomic.Int64
	authOK   atomic.Int64
	authBad  atomic.Int64
	wg       sync.WaitGroup
}

// New starts a Server on 127.0.0.1 with a free port.
func New(opts Options) (*Server, error) { return Listen("127.0.0.1:0", opts) }

// Listen starts a Server on addr, for example the address of a server that
// was closed, to model a restart.
func Listen(addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esltest: listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.setOptions(opts)
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection and waits for the handlers.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// SetFault changes the misbehaviour.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Fault = f
}

// SetResponse sets the body returned for an api command.
func (s *Server) SetResponse(cmd, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := maps.Clone(s.opts.Responses) // snapshots taken earlier keep the old map
	r[cmd] = body
	s.opts.Responses = r
}

// SetResponseFunc makes the server answer an api command with what f
// returns when the command arrives (StatusBody, CountBody, ...); f is called
// from the connection's goroutine and must be safe for concurrent use.
func (s *Server) SetResponseFunc(cmd string, f func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := maps.Clone(s.opts.Funcs)
	if fs == nil {
		fs = map[string]func() string{}
	}
	fs[cmd] = f
	s.opts.Funcs = fs
}

// SetDelay delays the reply to an api command; 0 removes the delay.
func (s *Server) SetDelay(cmd string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d2 := maps.Clone(s.opts.Delays)
	d2[cmd] = d
	s.opts.Delays = d2
}

// Connections is the number of connections accepted so far.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// Logins is the number of accepted and rejected auth commands so far.
func (s *Server) Logins() (ok, rejected int) {
	return int(s.authOK.Load()), int(s.authBad.Load())
}

// Commands returns the api commands received so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// DisconnectAll sends a disconnect notice on every open connection and closes
// it, as FreeSWITCH does on shutdown.
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte(DisconnectNotice))
		c.Close()
	}
}

func (s *Server) setOptions(o Options) {
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	o.Responses = maps.Clone(o.Responses)
	if o.Responses == nil {
		o.Responses = map[string]string{}
	}
	o.Funcs = maps.Clone(o.Funcs)
	o.Delays = maps.Clone(o.Delays)
	if o.Delays == nil {
		o.Delays = map[string]time.Duration{}
	}
	s.opts = o
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		}()
	}
}

// snapshot returns the options for one step of a connection.
func (s *Server) snapshot() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// handle runs one connection the way mod_event_socket's inbound listener does.
func (s *Server) handle(c net.Conn) {
	switch s.snapshot().Fault {
	case FaultCloseOnAccept:
		return
	case FaultSilent:
		<-s.done
		return
	case FaultRudeRejection:
		c.Write([]byte(RudeRejection + DisconnectNotice))
		return
	}
	if _, err := c.Write([]byte(AuthRequest)); err != nil {
		return
	}
	br := bufio.NewReader(c)
	authed := false
	for {
		cmd, err := readCommand(br)
		if err != nil {
			return
		}
		o := s.snapshot()
		switch verb, arg, _ := strings.Cut(cmd, " "); {
		case verb == "auth" && !authed:
			if arg != o.Password {
				s.authBad.Add(1)
				c.Write([]byte(AuthInvalid + DisconnectNotice))
				return
			}
			s.authOK.Add(1)
			authed = true
			c.Write([]byte(AuthAccepted))
		case verb == "exit":
			c.Write([]byte(Bye + DisconnectNotice))
			return
		case verb == "api" && authed:
			s.mu.Lock()
			s.log = append(s.log, arg)
			s.mu.Unlock()
			if !s.reply(c, o, strings.TrimSpace(arg)) {
				return
			}
		default:
			c.Write([]byte(CommandNotFound))
		}
	}
}

// reply answers one api command; false ends the connection.
func (s *Server) reply(c net.Conn, o Options, cmd string) bool {
	if d := o.Delays[cmd]; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return false
		}
	}
	body, ok := o.Responses[cmd]
	if f := o.Funcs[cmd]; f != nil {
		body, ok = f(), true
	}
	if !ok {
		name, _, _ := strings.Cut(cmd, " ")
		body = "-ERR " + name + " Command not found!\n"
	} else if body == "" {
		body = "-ERR no reply\n"
	}
	switch o.Fault {
	case FaultSilentReply:
		<-s.done
		return false
	case FaultTruncatedReply, FaultTruncatedHang:
		c.Write([]byte(APIResponse(body)[:len(APIHeader(body))+len(body)/2]))
		if o.Fault == FaultTruncatedHang {
			<-s.done
		}
		return false
	case FaultGarbageReply:
		c.Write([]byte("\x00\xffgarbage \x1b[31m not a frame\r\n\r\n"))
		return true
	case FaultWrongTypeReply:
		c.Write([]byte("Content-Type: command/reply\nReply-Text: +OK\n\n"))
		return true
	case FaultDisconnectOnCommand:
		c.Write([]byte(DisconnectNotice))
		return false
	}
	_, err := c.Write([]byte(APIResponse(body)))
	return err == nil
}

// APIHeader is the header block of an api/response frame carrying body.
func APIHeader(body string) string {
	return fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n", len(body))
}

// APIResponse is a whole api/response frame carrying body.
func APIResponse(body string) string { return APIHeader(body) + body }

// errTooLong ends a connection whose client sends an over-long command.
var errTooLong = errors.New("esltest: command too long")

// readCommand reads one client command: its first line, ignoring leading
// blank lines, then header lines up to a blank line (ignored). LF and CRLF
// endings are accepted, as FreeSWITCH accepts both.
func readCommand(br *bufio.Reader) (string, error) {
	var cmd string
	for n := 0; ; n++ {
		if n > 100 {
			return "", errTooLong
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if cmd == "" {
				continue
			}
			return cmd, nil
		}
		if cmd == "" {
			cmd = line
		}
	}
}
