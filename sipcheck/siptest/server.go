// Package siptest is a SIP server for tests: a sipgo-based responder on
// loopback whose answer to OPTIONS can be switched at runtime (any code,
// silence, a slow answer, garbage bytes, a hang), with a call side that
// answers INVITE and keeps each dialog until its BYE (counting the calls
// up, as a PBX's call counter does), and a launcher for a real Kamailio.
package siptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Options configure a Server.
type Options struct {
	Host       string       // listen address; default 127.0.0.1
	Port       int          // UDP and TCP port; 0 picks a free port used by both
	Transports []string     // any of udp, tcp, tls; default udp and tcp
	TLSPort    int          // TLS port; 0 picks a free one
	Cert       *Cert        // TLS certificate; default: a new self-signed one for Host
	Logger     *slog.Logger // sipgo's logs; default: discarded
	// AlsoUDP are more host:port addresses served over UDP by the same
	// server, with the same calls: a PBX bound to its node's address and to
	// a VIP.
	AlsoUDP []string
	// Contact is the host:port the answer to an INVITE puts in its Contact,
	// where the caller sends the requests of the dialog (ACK, BYE); default
	// the UDP/TCP listener's address.
	Contact string
	// MaxCall ends a call this long after it was answered, as a PBX's media
	// timeout ends a call whose other side went away; 0: never.
	MaxCall time.Duration
}

// Request is what the server saw of one OPTIONS request.
type Request struct {
	Transport string // UDP, TCP or TLS
	Source    string // remote host:port
	Via       string // top Via header value
	From      string
	To        string
	CallID    string
	UserAgent string
	URI       string // Request-URI
}

type mode int

const (
	modeAnswer mode = iota
	modeSilent
	modeGarbage
)

type behaviour struct {
	mode    mode
	code    int
	reason  string
	delay   time.Duration
	garbage []byte
	trying  time.Duration // > 0: send 100 Trying, wait this long, then the final reply
	mangle  string        // "Call-ID" or "CSeq": the final reply carries a foreign one
}

// maxKept bounds the requests a Server remembers.
const maxKept = 64

// Server answers OPTIONS on loopback. Its methods are safe for concurrent use.
type Server struct {
	host    string
	port    int
	tlsPort int
	cert    *Cert

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	pc      net.PacketConn     // nil without udp
	extra   []net.PacketConn   // AlsoUDP
	extraUA []*sipgo.UserAgent // their stacks
	lns     []net.Listener
	wg      sync.WaitGroup

	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	b        behaviour
	gate     chan struct{} // closed while accepting
	count    int
	received []Request

	contact   string
	maxCall   time.Duration
	calls     map[string]*call // by Call-ID
	processed int
	nextPort  int
}

// Start is Listen for tests: it fails the test on error and closes the server
// when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Listen(opts)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Listen starts a server that answers every OPTIONS with 200 OK.
func Listen(opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if len(opts.Transports) == 0 {
		opts.Transports = []string{"udp", "tcp"}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		opts.Logger = log
	}
	s := &Server{
		host: opts.Host,
		done: make(chan struct{}),
		b:    behaviour{mode: modeAnswer, code: 200, reason: "OK"},
		gate: make(chan struct{}),

		contact: opts.Contact,
		maxCall: opts.MaxCall,
		calls:   map[string]*call{},
	}
	close(s.gate)
	ua, srv, err := s.newStack(log)
	if err != nil {
		return nil, err
	}
	s.ua, s.srv = ua, srv

	if err := s.listen(opts); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// newStack makes a sipgo user agent and server with the handlers.
func (s *Server) newStack(log *slog.Logger) (*sipgo.UserAgent, *sipgo.Server, error) {
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("siptest"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("siptest: new user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		_ = ua.Close()
		return nil, nil, fmt.Errorf("siptest: new server: %w", err)
	}
	srv.OnOptions(s.handle)
	srv.OnInvite(s.handleInvite)
	srv.OnAck(s.handleAck)
	srv.OnBye(s.handleBye)
	srv.OnUpdate(s.handleUpdate)
	srv.OnCancel(s.handleCancel)
	return ua, srv, nil
}

func (s *Server) listen(opts Options) error {
	want := func(tp string) bool { return slices.Contains(opts.Transports, tp) }
	for _, tp := range opts.Transports {
		if tp != "udp" && tp != "tcp" && tp != "tls" {
			return fmt.Errorf("siptest: unknown transport %q", tp)
		}
	}
	if want("udp") || want("tcp") {
		pc, ln, err := listenPair(s.host, opts.Port, want("udp"), want("tcp"))
		if err != nil {
			return err
		}
		if pc != nil {
			s.pc = pc
			s.port = pc.LocalAddr().(*net.UDPAddr).Port
		}
		if ln != nil {
			s.port = ln.Addr().(*net.TCPAddr).Port
		}
		if s.contact == "" {
			s.contact = s.Addr() // before anything is served: handlers read it
		}
		if pc != nil {
			s.serve(func() error { return s.srv.ServeUDP(pc) })
		}
		if ln != nil {
			g := &gateListener{Listener: ln, s: s}
			s.lns = append(s.lns, g)
			s.serve(func() error { return s.srv.ServeTCP(g) })
		}
	}
	// Each AlsoUDP address gets a SIP stack of its own: sipgo sends a reply
	// over any socket it has seen the client on, and a reply from the VIP's
	// socket fails once the VIP has left. A PBX answers from where it was
	// asked.
	for _, addr := range opts.AlsoUDP {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("siptest: listen udp %s: %w", addr, err)
		}
		s.extra = append(s.extra, pc)
		ua, srv, err := s.newStack(opts.Logger)
		if err != nil {
			return err
		}
		s.extraUA = append(s.extraUA, ua)
		s.serve(func() error { return srv.ServeUDP(pc) })
	}
	if want("tls") {
		s.cert = opts.Cert
		if s.cert == nil {
			c, err := NewCert(s.host)
			if err != nil {
				return err
			}
			s.cert = c
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(s.host, strconv.Itoa(opts.TLSPort)))
		if err != nil {
			return fmt.Errorf("siptest: listen tls: %w", err)
		}
		s.tlsPort = ln.Addr().(*net.TCPAddr).Port
		g := &gateListener{Listener: ln, s: s}
		tl := tls.NewListener(g, &tls.Config{Certificates: []tls.Certificate{s.cert.TLS}, MinVersion: tls.VersionTLS12})
		s.lns = append(s.lns, tl)
		s.serve(func() error { return s.srv.ServeTLS(tl) })
	}
	return nil
}

// listenPair opens UDP and TCP on the same port; with port 0 it retries a
// few free UDP ports until TCP can bind the same one.
func listenPair(host string, port int, udp, tcp bool) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		var pc net.PacketConn
		p := port
		if udp {
			var err error
			pc, err = net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				return nil, nil, fmt.Errorf("siptest: listen udp: %w", err)
			}
			p = pc.LocalAddr().(*net.UDPAddr).Port
		}
		if !tcp {
			return pc, nil, nil
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		if pc != nil {
			_ = pc.Close()
		}
		if port != 0 || !udp {
			break
		}
	}
	return nil, nil, fmt.Errorf("siptest: listen tcp: %w", lastErr)
}

func (s *Server) serve(f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = f() // returns when its listener closes
	}()
}

// gateListener holds accepted connections back while the server does not
// accept, like a PBX whose accept loop hangs: the kernel completes the
// handshake, but nobody reads.
type gateListener struct {
	net.Listener
	s *Server
}

func (g *gateListener) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g.s.mu.Lock()
	gate := g.s.gate
	g.s.mu.Unlock()
	select {
	case <-gate:
		return c, nil
	case <-g.s.done:
		_ = c.Close()
		return nil, net.ErrClosed
	}
}

func (s *Server) handle(req *sip.Request, tx sip.ServerTransaction) {
	s.mu.Lock()
	b := s.b
	s.count++
	s.received = append(s.received, requestOf(req))
	if len(s.received) > maxKept {
		s.received = slices.Delete(s.received, 0, len(s.received)-maxKept)
	}
	s.mu.Unlock()

	switch b.mode {
	case modeSilent:
		return
	case modeGarbage:
		s.writeRaw(req, tx, b.garbage)
		return
	}
	if b.trying > 0 {
		// Its own write, then a pause: on a stream the 100 arrives in a
		// segment of its own, before the final reply.
		_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))
		if !s.wait(b.trying) {
			return
		}
	}
	if b.delay > 0 && !s.wait(b.delay) {
		return
	}
	res := sip.NewResponseFromRequest(req, b.code, b.reason, nil)
	res.AppendHeader(sip.NewHeader("Server", "pbxha-siptest"))
	switch b.mangle {
	case "Call-ID":
		res.RemoveHeader("Call-ID")
		id := sip.CallIDHeader("foreign-" + req.CallID().Value())
		res.AppendHeader(&id)
	case "CSeq":
		c := *req.CSeq()
		c.SeqNo++
		res.RemoveHeader("CSeq")
		res.AppendHeader(&c)
	}
	_ = tx.Respond(res)
}

// wait waits d, or returns false when the server closes first.
func (s *Server) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// writeRaw sends bytes that are not SIP to where the reply would go.
func (s *Server) writeRaw(req *sip.Request, tx sip.ServerTransaction, data []byte) {
	if strings.EqualFold(req.Transport(), "UDP") {
		if addr, err := net.ResolveUDPAddr("udp", req.Source()); err == nil && s.pc != nil {
			_, _ = s.pc.WriteTo(data, addr)
		}
		return
	}
	stx, ok := tx.(*sip.ServerTx)
	if !ok {
		return
	}
	if c, ok := stx.Connection().(net.Conn); ok {
		_, _ = c.Write(data)
	}
}

func requestOf(req *sip.Request) Request {
	r := Request{Transport: req.Transport(), Source: req.Source(), URI: req.Recipient.String()}
	if v := req.Via(); v != nil {
		r.Via = v.Value()
	}
	if h := req.From(); h != nil {
		r.From = h.Value()
	}
	if h := req.To(); h != nil {
		r.To = h.Value()
	}
	if h := req.CallID(); h != nil {
		r.CallID = h.Value()
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		r.UserAgent = h.Value()
	}
	return r
}

func (s *Server) set(f func(b *behaviour)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.b)
}

// Answer makes the server reply with code and reason, at once.
func (s *Server) Answer(code int, reason string) {
	s.set(func(b *behaviour) { *b = behaviour{mode: modeAnswer, code: code, reason: reason} })
}

// Slow makes the server wait d before each reply (keeping the code).
func (s *Server) Slow(d time.Duration) {
	s.set(func(b *behaviour) { b.mode, b.delay = modeAnswer, d })
}

// Trying makes the server send 100 Trying first, in a write of its own, and
// the final reply gap later (keeping the code).
func (s *Server) Trying(gap time.Duration) {
	s.set(func(b *behaviour) { b.mode, b.trying = modeAnswer, gap })
}

// Mismatch makes the server's final reply carry a foreign value of header,
// "Call-ID" or "CSeq" (the number), with the request's Via branch: a reply
// to someone else's transaction (keeping the code).
func (s *Server) Mismatch(header string) {
	if header != "Call-ID" && header != "CSeq" {
		panic("siptest: Mismatch: header must be Call-ID or CSeq, not " + header)
	}
	s.set(func(b *behaviour) { b.mode, b.mangle = modeAnswer, header })
}

// Silent makes the server read requests and never reply.
func (s *Server) Silent() {
	s.set(func(b *behaviour) { b.mode = modeSilent })
}

// Garbage makes the server reply with data instead of a SIP response.
func (s *Server) Garbage(data []byte) {
	data = slices.Clone(data)
	s.set(func(b *behaviour) { b.mode, b.garbage = modeGarbage, data })
}

// SetAccepting stops (false) or resumes (true) handing new TCP and TLS
// connections to the SIP stack. Live connections keep being served.
func (s *Server) SetAccepting(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := isClosed(s.gate)
	switch {
	case on && !open:
		close(s.gate)
	case !on && open:
		s.gate = make(chan struct{})
	}
}

// Hang freezes the server like a stopped process: no reply to anything and
// no new connection served. Answer and SetAccepting(true) undo it.
func (s *Server) Hang() {
	s.Silent()
	s.SetAccepting(false)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Requests returns how many requests (OPTIONS, and those of the call side)
// reached the server, including retransmissions it did not absorb.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Received returns the last requests seen (at most 64), oldest first.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Addr returns host:port of the UDP/TCP listener.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// TLSAddr returns host:port of the TLS listener.
func (s *Server) TLSAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.tlsPort)) }

// Cert returns the TLS certificate, or nil without TLS.
func (s *Server) Cert() *Cert { return s.cert }

// URI returns the target URI for transport (udp, tcp or tls).
func (s *Server) URI(transport string) string {
	addr := s.Addr()
	if transport == "tls" {
		addr = s.TLSAddr()
	}
	return "sip:" + addr + ";transport=" + transport
}

// Close stops the listeners and the SIP stack and waits for the serving
// goroutines to end.
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		close(s.done)
		if s.pc != nil {
			errs = append(errs, ignoreClosed(s.pc.Close()))
		}
		for _, pc := range s.extra {
			errs = append(errs, ignoreClosed(pc.Close()))
		}
		for _, ln := range s.lns {
			errs = append(errs, ignoreClosed(ln.Close()))
		}
		s.wg.Wait()
		errs = append(errs, s.ua.Close())
		for _, ua := range s.extraUA {
			errs = append(errs, ua.Close())
		}
	})
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
