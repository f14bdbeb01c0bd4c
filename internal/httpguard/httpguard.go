// Package httpguard bounds what HTTP clients can hold in the daemon: a
// deadline on every phase of a connection, and a cap on open connections
// that closes idle keep-alive ones first, so that a flood on the metrics port
// or the control socket cannot take the file descriptors and memory that the
// probes and the failover actions need.
package httpguard

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Limits bound one HTTP server. Durations are wall-clock times; zero
// fields take the defaults of Default.
type Limits struct {
	// MaxConns is the most connections open at once. Past it, the oldest
	// idle keep-alive connection is closed to admit a new one; without an
	// idle one the new connection waits until one closes.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's header, ReadTimeout the
	// whole request, WriteTimeout writing the response, IdleTimeout the
	// wait for the next request on a keep-alive connection.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes int
}

// Default are the limits of a small local API: 16 connections, 2 s for a
// header, 5 s for a request, 10 s for a response, 30 s idle, 16 KiB of
// header.
var Default = Limits{
	MaxConns:          16,
	ReadHeaderTimeout: 2 * time.Second,
	ReadTimeout:       5 * time.Second,
	WriteTimeout:      10 * time.Second,
	IdleTimeout:       30 * time.Second,
	MaxHeaderBytes:    16 << 10,
}

// FDShare is the share of the process's file descriptor limit that one
// server's connections may take: ConnCap never grants more than
// 1/FDShare of it, so two servers under a flood leave three quarters to
// the probes, heartbeats, database connections and hook processes.
const FDShare = 8

// ConnCap returns want, lowered to the file descriptor budget of one
// server (1/FDShare of the soft RLIMIT_NOFILE, which Go's runtime has
// already raised to the hard limit at start), and at least 2.
func ConnCap(want int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return max(want, 2)
	}
	return capFor(want, rl.Cur)
}

func capFor(want int, fdLimit uint64) int {
	if share := fdLimit / FDShare; share < uint64(want) {
		want = int(share)
	}
	return max(want, 2)
}

// FDLimit returns the soft RLIMIT_NOFILE of the process, or 0 when it
// cannot be read.
func FDLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

func (l Limits) withDefaults() Limits {
	d := Default
	if l.MaxConns > 0 {
		d.MaxConns = l.MaxConns
	}
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	return d
}

// Serve answers requests on ln with h under lim until ctx is done, then
// shuts down, giving requests in flight one second. errLog receives
// net/http's own complaints (malformed requests, accept errors). The
// returned error is net/http's, unwrapped: the caller names its server.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits, errLog *log.Logger) error {
	srv, g := newServer(ln, h, lim, errLog)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(g) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // requests still running after a second are cut
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer returns the server of Serve and the listener it must serve on.
func newServer(ln net.Listener, h http.Handler, lim Limits, errLog *log.Logger) (*http.Server, *limiter) {
	lim = lim.withDefaults()
	g := newLimiter(ln, lim.MaxConns)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ConnState:         g.track,
		ErrorLog:          errLog,
	}, g
}

// limiter is a listener that keeps at most max connections open. Accept
// is called by one goroutine (http.Server's loop); track and the
// connections' Close by any.
type limiter struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle map[*conn]time.Time // open connections waiting for their next request, since when

	wake      chan struct{} // one token when a connection closes or turns idle
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimiter(ln net.Listener, maxConns int) *limiter {
	return &limiter{
		Listener: ln,
		max:      maxConns,
		idle:     make(map[*conn]time.Time),
		wake:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
}

// Accept returns the next connection once it fits under the cap: it closes
// the oldest idle connection to make room, or waits for one to close or
// turn idle. While
// it waits the kernel's backlog holds further clients, which cost the
// process nothing.
func (l *limiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return &conn{Conn: c, l: l}, nil
		}
		victim := l.oldestIdle()
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Close()
			continue
		}
		select {
		case <-l.wake:
		case <-l.closed:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

// oldestIdle returns the connection idle the longest, or nil; l.mu held.
func (l *limiter) oldestIdle() *conn {
	var (
		oldest *conn
		since  time.Time
	)
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	return oldest
}

// track follows net/http's view of each connection: an idle one may be
// closed to admit a new client.
func (l *limiter) track(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	idle := state == http.StateIdle && !c.done
	if idle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
	l.mu.Unlock()
	if idle {
		l.signal() // a waiting Accept may close it now
	}
}

func (l *limiter) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *limiter) release(c *conn) {
	l.mu.Lock()
	l.open--
	c.done = true
	delete(l.idle, c)
	l.mu.Unlock()
	l.signal()
}

// Close stops a waiting Accept and closes the listener.
func (l *limiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// openConns returns how many connections are open (for tests).
func (l *limiter) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// conn gives its slot back once, at its first Close.
type conn struct {
	net.Conn
	l    *limiter
	once sync.Once
	done bool // closed; guarded by l.mu
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
