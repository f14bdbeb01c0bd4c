package ami

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Redial bounds used by DialRetry, as esl's: a failed attempt is followed by
// a pause of redialPause, and one attempt is bounded by redialAttempt.
const (
	redialPause   = 200 * time.Millisecond
	redialAttempt = 5 * time.Second
)

// DialRetry is Dial repeated until it succeeds or ctx ends: an Asterisk just
// started refuses manager connections for a few seconds. Rejected
// credentials end it at once. The error is the last attempt's, with the
// number of attempts made.
func DialRetry(ctx context.Context, addr, username, secret string) (*Client, error) {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, redialAttempt)
		c, err := Dial(actx, addr, username, secret)
		cancel()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrAuth) {
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

// Command runs one CLI command ("pjsip send register *all") with Action:
// Command and returns its output lines joined by newlines (Asterisk 13 and
// later send one Output field per line). A command Asterisk refuses or does
// not know is an error wrapping *ResponseError, with its output.
func (c *Client) Command(ctx context.Context, cmd string) (string, error) {
	m, err := c.Do(ctx, "Command", Field{"Command", cmd})
	var lines []string
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, "Output") {
			lines = append(lines, f.Value)
		}
	}
	out := strings.Join(lines, "\n")
	if err != nil {
		if out != "" {
			return out, fmt.Errorf("%w: %s", err, lines[0])
		}
		return out, err
	}
	return out, nil
}

// Reply is the outcome of one command sent by RunCommands.
type Reply struct {
	Command string // the CLI command as given
	Output  string // its output; empty when none arrived
	Err     error
}

// RunCommands runs each of cmds with Action: Command, in order, over one
// manager connection to addr (connected with DialRetry), all within ctx. A
// refused command does not stop the ones after it; after a connection
// failure the next command goes over a new connection, and the failed one
// is not sent again (Asterisk may have run it). Commands left when ctx ends
// or the connection cannot be made get the dial error. One Reply per
// command, in order.
func RunCommands(ctx context.Context, addr, username, secret string, cmds []string) []Reply {
	out := make([]Reply, 0, len(cmds))
	var c *Client
	defer func() {
		if c != nil {
			lctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.Logoff(lctx) // closes the connection too
			cancel()
		}
	}()
	for i, cmd := range cmds {
		if c == nil {
			var err error
			if c, err = DialRetry(ctx, addr, username, secret); err != nil {
				for _, left := range cmds[i:] {
					out = append(out, Reply{Command: left, Err: fmt.Errorf("ami: command %s: not sent: %w", left, err)})
				}
				return out
			}
		}
		o, err := c.Command(ctx, cmd)
		out = append(out, Reply{Command: cmd, Output: o, Err: err})
		if !c.Usable() {
			c.Close()
			c = nil
		}
	}
	return out
}
