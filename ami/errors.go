package ami

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/pbxha/pbxha/probe"
)

// ErrAuth reports that Asterisk rejected the login (wrong username or secret,
// or an ACL that denies this address).
var ErrAuth = errors.New("credentials rejected")

// ResponseError is a "Response: Error" answer to an action. The connection
// stays usable after it.
type ResponseError struct {
	Action  string // the action that was refused, e.g. "CoreStatus"
	Message string // the Message field, e.g. "Permission denied"
}

// Error reads "CoreStatus refused: Permission denied".
func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s refused: %s", e.Action, e.Message)
}

// permissionDenied reports whether err is Asterisk refusing an action for lack
// of a read or write permission of the manager user.
func permissionDenied(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Message == "Permission denied"
}

// Class maps an error from this package to a probe error class
// (probe.Class* constants).
func Class(err error) string {
	var re *ResponseError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrAuth), permissionDenied(err):
		return probe.ClassAuth
	case errors.Is(err, errConfig):
		return probe.ClassConfig
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return probe.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return probe.ClassRefused
	case errors.Is(err, ErrProtocol), errors.As(err, &re):
		return probe.ClassBadResponse
	default:
		return probe.ClassTransport
	}
}

// errConfig marks a request that cannot be sent as configured (a secret with
// a line break, an empty username).
var errConfig = errors.New("invalid configuration")
