package esl

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Redial bounds used by DialRetry: a failed attempt is followed by a pause of
// redialPause, and one attempt waits for the greeting at most
// redialAttempt, so that a connection accepted by a server that never greets
// does not use up the whole budget.
const (
	redialPause   = 200 * time.Millisecond
	redialAttempt = 5 * time.Second
)

// DialRetry is Dial repeated until it succeeds or ctx ends: a FreeSWITCH that
// was just started refuses connections, or closes them, for a few seconds
// before mod_event_socket listens. A rejected password or an ACL denial ends
// it at once, as waiting does not change them. The error is the last
// attempt's, with the number of attempts made.
func DialRetry(ctx context.Context, addr, password string) (*Conn, error) {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, redialAttempt)
		c, err := Dial(actx, addr, password)
		cancel()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrRejected) {
			return nil, err
		}
		t := time.NewTimer(redialPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up after %d attempts: %w)", err, n, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Reply is the outcome of one command sent by RunCommands.
type Reply struct {
	Command string // the api command as given, "sofia recover"
	Body    string // the response body; empty when none arrived
	Err     error  // nil when FreeSWITCH answered without -ERR or -USAGE; a *CommandError when it did not
}

// RunCommands runs each of cmds with "api", in order, over one connection to
// addr (connected with DialRetry), all within ctx. A command answered with
// -ERR or -USAGE does not stop the ones after it. After a connection failure
// (a timeout, a disconnect) the next command is sent over a new connection;
// the failed one is not sent again, as FreeSWITCH may have run it. Commands
// left when ctx ends, or when the connection cannot be made, get the dial
// error. It returns one Reply per command, in order.
func RunCommands(ctx context.Context, addr, password string, cmds []string) []Reply {
	out := make([]Reply, 0, len(cmds))
	var c *Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i, cmd := range cmds {
		if c == nil {
			var err error
			if c, err = DialRetry(ctx, addr, password); err != nil {
				for _, left := range cmds[i:] {
					out = append(out, Reply{Command: left, Err: fmt.Errorf("esl: api %s: not sent: %w", left, err)})
				}
				return out
			}
		}
		body, err := c.API(ctx, cmd)
		out = append(out, Reply{Command: cmd, Body: body, Err: err})
		var ce *CommandError
		if err != nil && !errors.As(err, &ce) {
			c.Close() // API discarded it already; Close releases the socket
			c = nil
		}
	}
	return out
}
