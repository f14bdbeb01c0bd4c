// Package sipcheck checks that a SIP server answers: it sends OPTIONS over
// UDP, TCP or TLS and turns the reply, or its absence, into a probe.Result.
package sipcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pbxha/pbxha/probe"
)

// RFC 3261 timers for a non-INVITE client transaction. A check without a
// context deadline gives up after Timer F (64*T1), like any SIP client.
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	timerF  = 64 * timerT1
)

// Prober sends OPTIONS to one target. It is safe for concurrent use.
//
// Over UDP each check sends from its own connected socket, so the kernel's
// ICMP port-unreachable reaches the check (class refused, at once) and late
// replies of earlier checks cannot be mistaken for this one's. Over TCP and
// TLS one sipgo client and its pooled connection serve every check, unless
// FreshConnection asks for a new connection per check.
type Prober struct {
	s      settings
	log    *slog.Logger
	parser *sip.Parser
	dialer net.Dialer
	bufs   sync.Pool // *[]byte datagram buffers
	ids    *ids

	ua     *sipgo.UserAgent // pooled TCP/TLS only
	client *sipgo.Client

	mu     sync.Mutex
	source string     // pooled path: cached local address toward the target, for From
	udp    *udpSocket // udp path: the socket the last transaction left (see optionsUDP)

	closed atomic.Bool
}

// Reply is a final response to one OPTIONS request.
type Reply struct {
	Code      int           // SIP status code, 200..699
	Reason    string        // reason phrase, made safe for one log line
	RTT       time.Duration // from sending the request to the final reply
	Server    string        // the reply's Server (or User-Agent) header, if any
	Transport string        // udp, tcp or tls
	Local     string        // local address the request left from, when known
}

// New validates cfg and builds a Prober. logger receives sipgo's own logs at
// Debug level, with probe-specific attributes the caller added; nil discards
// them. Over TCP/TLS (without FreshConnection) it creates the one sipgo user
// agent and client that all checks share; Close releases them.
func New(cfg Config, logger *slog.Logger) (*Prober, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, fmt.Errorf("sipcheck: config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Prober{
		s:      s,
		log:    logger,
		parser: sip.NewParser(),
		ids:    newIDs(),
	}
	p.bufs.New = func() any { b := make([]byte, 65535); return &b }
	if s.target.Transport == TransportUDP || s.fresh {
		return p, nil
	}
	if s.localHost == "" {
		// Known at once for an IP target (no packet is sent); a name is
		// resolved by the first check instead of blocking here.
		if _, err := netipParse(s.target.Host); err == nil {
			p.source, _ = p.localSource(context.Background())
		}
	}
	lib := newLibraryLogger(logger)
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent(s.fromUser),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(lib)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(lib),
			// A pooled connection that closes ends its checks at once
			// instead of at their deadline.
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				lib.Debug("late or unmatched reply dropped", "reply", oneLine(r.Short(), 200))
			}),
		),
	}
	if s.tls != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(s.tls))
	}
	if h := orDefault(s.localHost, p.source); h != "" {
		uaOpts = append(uaOpts, sipgo.WithUserAgentHostname(h))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return nil, fmt.Errorf("sipcheck: new user agent: %w", err)
	}
	clOpts := []sipgo.ClientOption{sipgo.WithClientLogger(lib)}
	if s.localHost != "" {
		// Otherwise the Via host stays empty and sipgo fills in the
		// connection's real local address, never 0.0.0.0.
		clOpts = append(clOpts, sipgo.WithClientHostname(s.localHost))
	}
	cl, err := sipgo.NewClient(ua, clOpts...)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("sipcheck: new client: %w", err)
	}
	p.ua, p.client = ua, cl
	return p, nil
}

// Target returns the parsed target.
func (p *Prober) Target() Target { return p.s.target }

// Close releases the sipgo client and its pooled connection, or the kept
// UDP socket. Checks after Close fail.
func (p *Prober) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.mu.Lock()
	c := p.udp
	p.udp = nil
	p.mu.Unlock()
	if c != nil {
		c.conn.Close()
	}
	if p.ua == nil {
		return nil
	}
	return p.ua.Close()
}

// errProberClosed is returned by checks after Close.
var errProberClosed = errors.New("prober is closed")

// Options sends one OPTIONS request and returns the final reply, whatever its
// code. It returns by ctx's deadline, or after Timer F (32 s) without one.
// A failure is an error whose class Check reports.
func (p *Prober) Options(ctx context.Context) (Reply, error) {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timerF)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	budget := deadline.Sub(start)
	if p.closed.Load() {
		return Reply{}, p.wrap(&checkError{class: probe.ClassConfig, detail: "prober is closed", err: errProberClosed})
	}
	var (
		rep Reply
		err error
	)
	switch {
	case p.s.target.Transport == TransportUDP:
		rep, err = p.optionsUDP(ctx)
	case p.s.fresh:
		rep, err = p.optionsStream(ctx)
	default:
		rep, err = p.optionsPooled(ctx)
	}
	if err != nil {
		return rep, p.wrap(classify(err, budget))
	}
	return rep, nil
}

// Check sends one OPTIONS request and judges the reply: a code in Accept is
// OK, one in Degraded is Degraded, any other code, a timeout or a network
// error is Failed. It returns by ctx's deadline.
func (p *Prober) Check(ctx context.Context) probe.Result {
	start := time.Now()
	rep, err := p.Options(ctx)
	r := probe.Result{Start: start, Latency: time.Since(start)}
	if err != nil {
		r.Status, r.Err = probe.Failed, err
		r.Class, r.Detail = probe.ClassTransport, err.Error()
		var ce *checkError
		if errors.As(err, &ce) {
			r.Class, r.Detail = ce.class, ce.detail
		}
		return r
	}
	r.Code, r.Latency = rep.Code, rep.RTT
	r.Detail = strconv.Itoa(rep.Code) + " " + rep.Reason // at every check: no fmt at rest
	switch {
	case p.s.accept.Has(rep.Code):
		r.Status = probe.OK
	case p.s.degraded.Has(rep.Code):
		r.Status, r.Class = probe.Degraded, probe.ClassBadResponse
		r.Err = p.wrap(fmt.Errorf("reply %s means degraded (degraded: %s)", r.Detail, p.s.degraded))
	default:
		r.Status, r.Class = probe.Failed, probe.ClassBadResponse
		r.Err = p.wrap(fmt.Errorf("reply %s is not accepted (accept: %s)", r.Detail, p.s.accept))
	}
	return r
}

func newReply(res *sip.Response, transport string, rtt time.Duration, local string) Reply {
	return headOf(res).reply(transport, rtt, local)
}

// replyHead is what a Reply keeps of a response, as it came off the wire.
type replyHead struct {
	code   int
	reason string
	server string // the first Server header's value, else the first User-Agent's
}

func headOf(res *sip.Response) replyHead {
	h := replyHead{code: res.StatusCode, reason: res.Reason}
	if s := res.GetHeader("Server"); s != nil {
		h.server = s.Value()
	} else if ua := res.GetHeader("User-Agent"); ua != nil {
		h.server = ua.Value()
	}
	return h
}

func (h replyHead) reply(transport string, rtt time.Duration, local string) Reply {
	return Reply{
		Code:      h.code,
		Reason:    oneLine(h.reason, 80),
		RTT:       rtt,
		Server:    oneLine(h.server, 120),
		Transport: transport,
		Local:     local,
	}
}
