// Package amitest is a test double of Asterisk's manager interface: a TCP
// server on loopback that speaks AMI byte for byte as main/manager.c does
// (banner, Login, Ping, CoreStatus, CoreSettings, Logoff, errors for unknown
// actions and for actions before login), with knobs for the ways a real
// server misbehaves: silence, slowness, garbage, hanging up mid-response and
// events interleaved with responses. Its call counts (CoreStatus,
// CoreShowChannels, the CLI's "core show calls") can follow a live source
// (SetCalls).
package amitest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/ami"
)

// Status is what CoreStatus and CoreSettings report.
type Status struct {
	AsteriskVersion string         // CoreSettings AsteriskVersion; default "20.5.0"
	AMIVersion      string         // banner and CoreSettings AMIversion; default "9.0.0"
	Startup         time.Time      // CoreStartupDate/Time
	Reload          time.Time      // CoreReloadDate/Time
	CurrentCalls    int            // CoreCurrentCalls
	ProcessedCalls  int            // CoreProcessedCalls (Asterisk 22+); negative leaves the field out
	Legacy          bool           // Asterisk 1.6 format: times without dates
	Location        *time.Location // zone the times are printed in; default UTC
}

// Fault is a way the server misbehaves.
type Fault int

// Faults. Each applies to connections accepted after it is set, and to the
// next action on connections already open.
const (
	FaultNone             Fault = iota
	FaultSilent                 // accept, then never send a byte (a frozen Asterisk: the kernel still accepts)
	FaultBadBanner              // greet with a line that is not an AMI banner (another service on the port)
	FaultHang                   // banner and login answered; later actions never answered
	FaultGarbage                // later actions answered with bytes that are not AMI
	FaultCloseMidResponse       // later actions answered with half a response, then the connection closes
)

// Options configure Start.
type Options struct {
	Users  map[string]string // username → secret; default {"pbxha": "secret"}
	Status Status            // initial status
	Now    func() time.Time  // clock for Ping timestamps; default time.Now
}

// Server is a running AMI double. Its methods are safe for concurrent use.
type Server struct {
	ln    net.Listener
	users map[string]string
	now   func() time.Time
	done  chan struct{}
	wg    sync.WaitGroup

	mu            sync.Mutex
	status        Status
	fault         Fault
	delay         time.Duration
	interleave    int
	authFailDelay time.Duration
	denied        map[string]bool
	accepted      int
	logins        int
	actions       []string
	commands      []string // CLI commands run with Action: Command
	conns         map[net.Conn]struct{}
	calls         func() (active, processed int)
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start(o Options) (*Server, error) { return Listen("127.0.0.1:0", o) }

// Listen listens on addr (host:port) and serves until Close.
func Listen(addr string, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amitest: listen %s: %w", addr, err)
	}
	s := &Server{
		ln:    ln,
		users: o.Users,
		now:   o.Now,
		done:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	if s.users == nil {
		s.users = map[string]string{"pbxha": "secret"}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.status = o.Status
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, closes every connection and waits for the
// server's goroutines to end.
func (s *Server) Close() error {
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

// SetStatus changes what CoreStatus and CoreSettings report.
func (s *Server) SetStatus(st Status) { s.mu.Lock(); s.status = st; s.mu.Unlock() }

// SetCalls makes every answer report the calls f returns at that moment
// (CoreCurrentCalls, CoreProcessedCalls, the channels of CoreShowChannels,
// "core show calls"), in place of the Status's counts; f must be safe for
// concurrent use. nil goes back to the Status.
func (s *Server) SetCalls(f func() (active, processed int)) {
	s.mu.Lock()
	s.calls = f
	s.mu.Unlock()
}

// SetFault makes the server misbehave (FaultNone: behave).
func (s *Server) SetFault(f Fault) { s.mu.Lock(); s.fault = f; s.mu.Unlock() }

// SetDelay delays every answer after the banner by d.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetInterleave makes the server send n events and one stale response (an
// answer carrying another ActionID) before every answer after login.
func (s *Server) SetInterleave(n int) { s.mu.Lock(); s.interleave = n; s.mu.Unlock() }

// SetAuthFailDelay delays the answer to a rejected login, as real Asterisk
// does (it sleeps one second). The default is no delay.
func (s *Server) SetAuthFailDelay(d time.Duration) {
	s.mu.Lock()
	s.authFailDelay = d
	s.mu.Unlock()
}

// SetDenied makes the server refuse the named actions with "Permission
// denied", as Asterisk does when the manager user lacks the read or write
// class an action needs.
func (s *Server) SetDenied(actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = map[string]bool{}
	for _, a := range actions {
		s.denied[strings.ToLower(a)] = true
	}
}

// Accepted returns how many connections the server has accepted.
func (s *Server) Accepted() int { s.mu.Lock(); defer s.mu.Unlock(); return s.accepted }

// Logins returns how many logins succeeded.
func (s *Server) Logins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }

// Actions returns the Action of every message received, in order.
func (s *Server) Actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.actions...)
}

// Commands returns the CLI commands run with Action: Command, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// DropConnections closes every open connection, as a restarting Asterisk
// would, and keeps listening.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// snapshot returns the knobs under the lock.
func (s *Server) snapshot() (Status, Fault, time.Duration, int) {
	s.mu.Lock()
	st, f, d, n, calls := s.status, s.fault, s.delay, s.interleave, s.calls
	s.mu.Unlock()
	if calls != nil {
		st.CurrentCalls, st.ProcessedCalls = calls()
	}
	return st, f, d, n
}

// wait sleeps d unless the server closes first; it reports whether to go on.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (s *Server) serve(c net.Conn) {
	st, fault, _, _ := s.snapshot()
	switch fault {
	case FaultSilent:
		io.Copy(io.Discard, c)
		return
	case FaultBadBanner:
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
		io.Copy(io.Discard, c)
		return
	}
	if _, err := io.WriteString(c, Banner(st)); err != nil {
		return
	}
	r := bufio.NewReader(c)
	authed := false
	for {
		m, err := ami.ReadMessage(r)
		if err != nil {
			return
		}
		action := m.Get("Action")
		s.mu.Lock()
		s.actions = append(s.actions, action)
		s.mu.Unlock()
		st, fault, delay, interleave := s.snapshot()
		if !s.wait(delay) {
			return
		}
		id := m.Get("ActionID")
		var out string
		switch {
		case action == "":
			out = Reply("Error", id, "Missing action in request")
		case strings.EqualFold(action, "Logoff"):
			io.WriteString(c, Reply("Goodbye", id, "Thanks for all the fish."))
			return
		case strings.EqualFold(action, "Login") && !authed:
			secret, ok := s.lookupUser(m.Get("Username"))
			if !ok || secret != m.Get("Secret") {
				s.mu.Lock()
				d := s.authFailDelay
				s.mu.Unlock()
				if s.wait(d) {
					io.WriteString(c, Reply("Error", id, "Authentication failed"))
				}
				return // Asterisk hangs up after a failed login
			}
			authed = true
			s.mu.Lock()
			s.logins++
			s.mu.Unlock()
			out = Reply("Success", id, "Authentication accepted")
			if !strings.EqualFold(m.Get("Events"), "off") {
				out += FullyBooted(st, s.now())
			}
		case !authed:
			out = Reply("Error", id, "Permission denied")
		case strings.EqualFold(action, "Login"):
			out = Reply("Success", id, "Already authenticated")
		default:
			switch fault {
			case FaultHang:
				continue
			case FaultGarbage:
				io.WriteString(c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 <html>not AMI</html>\r\n\r\n")
				continue
			}
			out = s.answer(action, id, st)
			if strings.EqualFold(action, "Command") {
				cmd := m.Get("Command")
				s.mu.Lock()
				s.commands = append(s.commands, cmd)
				s.mu.Unlock()
				out = CommandOutput(id, cmd)
				if strings.TrimSpace(cmd) == "core show calls" {
					out = CoreShowCalls(id, st)
				}
			}
			if s.isDenied(action) {
				out = Reply("Error", id, "Permission denied")
			}
			if fault == FaultCloseMidResponse {
				io.WriteString(c, out[:len(out)/2])
				return
			}
			for range interleave {
				out = DeviceStateEvent() + out
			}
			if interleave > 0 {
				out = s.answer(action, "stale-"+id, st) + out
			}
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

func (s *Server) isDenied(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.denied[strings.ToLower(action)]
}

func (s *Server) lookupUser(name string) (string, bool) {
	for u, secret := range s.users {
		if strings.EqualFold(u, name) { // Asterisk compares user names case-insensitively
			return secret, true
		}
	}
	return "", false
}

// answer builds the response to an action after login.
func (s *Server) answer(action, id string, st Status) string {
	switch strings.ToLower(action) {
	case "ping":
		return Pong(id, s.now())
	case "corestatus":
		return CoreStatus(id, st)
	case "coresettings":
		return CoreSettings(id, st)
	case "coreshowchannels":
		return CoreShowChannels(id, st, s.now())
	default:
		return Reply("Error", id, "Invalid/unknown command: "+action+". Use Action: ListCommands to show available commands.")
	}
}
