// Package probe runs health checks on their schedules, applies rise/fall
// hysteresis to their results and aggregates them into a node's health.
package probe

import (
	"context"
	"time"
)

// Status is the outcome of one check, or the settled state of a check after
// hysteresis.
type Status int

// Statuses, from best to worst. Unknown means no verdict yet.
const (
	Unknown Status = iota
	OK
	Degraded
	Failed
)

// String returns the lowercase name used in logs, status output and JSON.
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Degraded:
		return "degraded"
	case Failed:
		return "failed"
	default:
		return "unknown"
	}
}

// MarshalText encodes the status as its String form.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a status written by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ok":
		*s = OK
	case "degraded":
		*s = Degraded
	case "failed":
		*s = Failed
	default:
		*s = Unknown
	}
	return nil
}

// Error classes shared by probe kinds. A Result's Class is one of these, or
// empty when the check passed.
const (
	ClassTimeout     = "timeout"      // no answer before the deadline
	ClassRefused     = "refused"      // the target refused the connection
	ClassTransport   = "transport"    // any other network error
	ClassBadResponse = "bad_response" // an answer arrived but was not acceptable or not parseable
	ClassTLS         = "tls"          // TLS handshake or certificate failure
	ClassAuth        = "auth"         // credentials rejected
	ClassConfig      = "config"       // the probe cannot run as configured
)

// Result is the outcome of one check. It keeps the cause of a failure, not only
// the verdict.
type Result struct {
	Status  Status        // verdict of this single check
	Code    int           // protocol status code when there is one (SIP 200, 503...), else 0
	Detail  string        // one line a person reads: "200 OK", "FreeSWITCH ready, 12 sessions"
	Class   string        // error class (Class* constants) when Status is not OK
	Err     error         // the underlying error, if any
	Start   time.Time     // when the check began
	Latency time.Duration // round-trip or total check time

	// Values holds numbers a probe read (sessions, calls, lag_bytes...), shown
	// in status and exported as metrics. Keys are snake_case.
	Values map[string]float64
}

// Probe is one kind of health check bound to one target.
//
// Check blocks until the check completes and must return no later than the
// context's deadline; it reports every failure inside the Result rather than
// panicking. The scheduler never runs two Checks of the same Probe at once, but
// a Probe may be shared with one-shot diagnostics, so implementations must be
// safe for concurrent use.
type Probe interface {
	Check(ctx context.Context) Result
}

// Func adapts a plain function to the Probe interface.
type Func func(ctx context.Context) Result

// Check calls f.
func (f Func) Check(ctx context.Context) Result { return f(ctx) }
