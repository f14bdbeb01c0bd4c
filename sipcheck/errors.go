package sipcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pbxha/pbxha/probe"
)

// checkError is a failed check: its class and a short cause for Detail.
type checkError struct {
	class  string
	detail string // short, for Result.Detail: "no reply within 500ms"
	err    error  // cause, may be nil
}

func (e *checkError) Error() string {
	if e.err == nil {
		return e.detail
	}
	return e.detail + ": " + e.err.Error()
}

func (e *checkError) Unwrap() error { return e.err }

// errNoReply is the local transaction timeout: nothing final arrived before
// the check's deadline. It is never confused with a received 408.
func errNoReply(budget time.Duration, cause error) error {
	return &checkError{class: probe.ClassTimeout, detail: "no reply within " + roundBudget(budget).String(), err: cause}
}

// errBadReply is a reply that arrived but could not be used.
func errBadReply(cause error) error {
	return &checkError{class: probe.ClassBadResponse, detail: "unusable reply", err: cause}
}

// errClosed is a stream closed by the peer before the reply.
var errClosed = errors.New("connection closed before a reply")

func roundBudget(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d
	}
}

// classify wraps a transport error of a check into a checkError. budget is
// the time the check had.
func classify(err error, budget time.Duration) *checkError {
	var ce *checkError
	if errors.As(err, &ce) {
		return ce
	}
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		recHdr   tls.RecordHeaderError
		dnsErr   *net.DNSError
		netErr   net.Error
		tlsAlert = func() bool { return errors.As(err, &alert) }
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &checkError{class: probe.ClassRefused, detail: "connection refused", err: err}
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr),
		errors.As(err, &invalid), errors.As(err, &recHdr), tlsAlert():
		return &checkError{class: probe.ClassTLS, detail: "tls handshake failed", err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, sip.ErrTransactionTimeout):
		return errNoReply(budget, nil).(*checkError)
	case errors.Is(err, context.Canceled):
		return &checkError{class: probe.ClassTransport, detail: "canceled", err: err}
	case errors.As(err, &dnsErr):
		return &checkError{class: probe.ClassTransport, detail: "name resolution failed", err: err}
	case errors.Is(err, errClosed), errors.Is(err, io.EOF), errors.Is(err, sip.ErrTransactionTransport),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return &checkError{class: probe.ClassTransport, detail: "connection closed before a reply", err: err}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &checkError{class: probe.ClassTransport, detail: "unreachable", err: err}
	case errors.As(err, &netErr) && netErr.Timeout():
		return errNoReply(budget, nil).(*checkError)
	default:
		return &checkError{class: probe.ClassTransport, detail: "transport error", err: err}
	}
}

// wrap prefixes a check error with component, operation and target.
func (p *Prober) wrap(err error) error {
	return fmt.Errorf("sipcheck: options %s: %w", p.s.target, err)
}
