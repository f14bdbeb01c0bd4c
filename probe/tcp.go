package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// TCPConfig is one tcp probe target. It mirrors configs.TCPProbe.
type TCPConfig struct {
	Address string // host:port
}

// TCP checks that a TCP port accepts connections: it connects and closes at
// once. Latency is the connect time. It is safe for concurrent use.
type TCP struct {
	addr string
}

// NewTCP checks cfg and returns the probe.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("tcp: address %q: %w", cfg.Address, err)
	}
	if host == "" || port == "" || port == "0" {
		return nil, fmt.Errorf("tcp: address %q: want host:port with a non-zero port", cfg.Address)
	}
	return &TCP{addr: cfg.Address}, nil
}

// Check connects within ctx's deadline. It returns OK with the connect time,
// or Failed with class refused, timeout or transport.
func (p *TCP) Check(ctx context.Context) Result {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	lat := time.Since(start)
	if err != nil {
		class, detail := tcpClass(ctx, err)
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		if class == ClassTimeout {
			if dl, ok := ctx.Deadline(); ok {
				err = fmt.Errorf("no connection within %s: %w", dl.Sub(start).Round(time.Millisecond), context.DeadlineExceeded)
			}
		}
		return Result{Status: Failed, Class: class, Detail: detail, Start: start, Latency: lat,
			Err: fmt.Errorf("tcp: connect %s: %w", p.addr, err)}
	}
	detail := "connected to " + conn.RemoteAddr().String()
	conn.Close()
	return Result{Status: OK, Detail: detail, Start: start, Latency: lat}
}

// tcpClass maps a dial error to a class and a short detail.
func tcpClass(ctx context.Context, err error) (class, detail string) {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ClassTimeout, "no answer"
	case errors.As(err, &dnsErr):
		return ClassTransport, "name not resolved"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ClassTransport, "unreachable"
	}
	return ClassTransport, "connect failed"
}
