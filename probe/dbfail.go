package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"syscall"
)

// classifyConn is the part of a database check's error class that does not
// depend on the server's protocol: the check's deadline, a refused
// connection, a failed TLS handshake. ok is false for any other error,
// which the caller classifies by the server's own error codes.
func classifyConn(ctx context.Context, err error) (class string, ok bool) {
	var tlsErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		return ClassTimeout, true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return ClassRefused, true
	case errors.As(err, &tlsErr), errors.As(err, &recErr):
		return ClassTLS, true
	}
	return "", false
}

// dbFailure words a failed database check for its Detail line.
type dbFailure struct {
	Role      string // the server's role, when the check read it
	Class     string // the error class
	Timeout   string // what a timeout after the role was read is called
	Failed    string // what another failure after the role was read is called
	ServerErr string // the server's own error, "message (code)", or ""
	Config    string // for ClassConfig: what was not allowed, or "" to say nothing more
}

// Detail is "ROLE, WHAT" once the role was read, else what went wrong
// before: "no answer", "connection refused", "authentication failed"...
func (f dbFailure) Detail() string {
	what := "unreachable"
	switch {
	case f.Role != "" && f.Class == ClassTimeout:
		what = f.Timeout
	case f.Role != "" && f.ServerErr != "":
		what = "write failed: " + f.ServerErr
	case f.Role != "":
		what = f.Failed
	case f.Class == ClassTimeout:
		what = "no answer"
	case f.Class == ClassRefused:
		what = "connection refused"
	case f.Class == ClassAuth:
		what = "authentication failed"
	case f.Class == ClassConfig && f.Config != "":
		what = "not allowed: " + f.Config
	}
	if f.Role != "" {
		return f.Role + ", " + what
	}
	return what
}
