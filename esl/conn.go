package esl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/percipia/eslgo/command"
)

// Errors callers branch on. They are wrapped with the operation and target.
var (
	// ErrAuth means FreeSWITCH rejected the password ("-ERR invalid").
	ErrAuth = errors.New("authentication failed")
	// ErrRejected means FreeSWITCH refused this client by ACL
	// (text/rude-rejection) before asking for a password.
	ErrRejected = errors.New("access denied by ESL ACL")
	// ErrDisconnected means FreeSWITCH sent text/disconnect-notice or closed
	// the connection.
	ErrDisconnected = errors.New("disconnected by server")
	// ErrUnexpected means a well-formed frame of the wrong kind arrived, such
	// as a command/reply where an api/response was due.
	ErrUnexpected = errors.New("unexpected frame")
	// ErrClosed means the connection was already discarded, by Close or after
	// an earlier failure.
	ErrClosed = errors.New("connection closed")
)

// CommandError is an api/response whose body reports a failure, such as
// "-ERR sofia Command not found!". The connection stays usable.
type CommandError struct {
	Command string // the api command, "sofia status"
	Reply   string // the body's first line, "-ERR sofia Command not found!"
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("api %s: %s", e.Command, e.Reply)
}

// Conn is one authenticated inbound ESL connection.
//
// Every method returns no later than its context's deadline or cancellation.
// Commands run one at a time; a caller waiting for its turn also gives up at
// its context's end. After any timeout, I/O error or unexpected frame the
// connection is closed and every later call fails with ErrClosed, so a late
// reply can never be taken as the answer to another command. Conn is safe for
// concurrent use.
type Conn struct {
	addr string
	nc   net.Conn
	br   *bufio.Reader
	turn chan struct{} // holds one token; taking it grants the wire
	dead bool          // guarded by turn
}

// Dial connects to the ESL listener at addr (host:port), waits for the
// auth/request greeting and authenticates with password. It returns by ctx's
// deadline whatever the server does. A wrong password yields an error wrapping
// ErrAuth, an ACL denial one wrapping ErrRejected.
func Dial(ctx context.Context, addr, password string) (*Conn, error) {
	if strings.ContainsAny(password, "\r\n") {
		return nil, fmt.Errorf("esl: dial %s: password must not contain line breaks", addr)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esl: dial %s: %w", addr, err)
	}
	c := &Conn{addr: addr, nc: nc, br: bufio.NewReaderSize(nc, readBufSize), turn: make(chan struct{}, 1)}
	c.turn <- struct{}{}
	if err := c.auth(ctx, password); err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("esl: dial %s: %w", addr, err)
	}
	return c, nil
}

// auth reads the greeting and sends the password.
func (c *Conn) auth(ctx context.Context, password string) error {
	stage := "waiting for auth/request"
	err := c.exchange(ctx, func() error {
		f, err := readFrame(c.br)
		if err != nil {
			return err
		}
		switch ct := contentType(f); ct {
		case typeAuthRequest:
		case typeRudeRejection:
			return ErrRejected
		case typeDisconnect:
			return ErrDisconnected
		default:
			return fmt.Errorf("%w: Content-Type %q", ErrUnexpected, ct)
		}
		stage = "auth"
		if err := c.send(command.Auth{Password: password}); err != nil {
			return err
		}
		f, err = readFrame(c.br)
		if err != nil {
			return err
		}
		switch ct := contentType(f); {
		case ct == typeDisconnect:
			return ErrDisconnected
		case ct != typeReply:
			return fmt.Errorf("%w: Content-Type %q", ErrUnexpected, ct)
		case f.IsOk():
			return nil
		case strings.HasPrefix(f.GetReply(), "-ERR"):
			return fmt.Errorf("%w: %s", ErrAuth, f.GetReply())
		default:
			return fmt.Errorf("%w: Reply-Text %q", ErrUnexpected, f.GetReply())
		}
	})
	if err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrRejected) {
		return err
	}
	return fmt.Errorf("%s: %w", stage, err)
}

// API runs "api cmd" and returns the response body. A body starting with
// "-ERR" or "-USAGE" is returned together with a *CommandError.
func (c *Conn) API(ctx context.Context, cmd string) (string, error) {
	name, args, _ := strings.Cut(strings.TrimSpace(cmd), " ")
	if name == "" || strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("esl: api %q %s: command must be one non-empty line", cmd, c.addr)
	}
	var body string
	err := c.exchange(ctx, func() error {
		if err := c.send(command.API{Command: name, Arguments: args}); err != nil {
			return err
		}
		f, err := readFrame(c.br)
		if err != nil {
			return err
		}
		switch ct := contentType(f); ct {
		case typeAPIResponse:
			body = string(f.Body)
			return nil
		case typeDisconnect:
			return ErrDisconnected
		default:
			return fmt.Errorf("%w: Content-Type %q", ErrUnexpected, ct)
		}
	})
	if err != nil {
		return "", fmt.Errorf("esl: api %s %s: %w", cmd, c.addr, err)
	}
	if strings.HasPrefix(body, "-ERR") || strings.HasPrefix(body, "-USAGE") {
		first, _, _ := strings.Cut(body, "\n")
		return body, fmt.Errorf("esl: %s: %w", c.addr, &CommandError{Command: cmd, Reply: strings.TrimSpace(first)})
	}
	return body, nil
}

// send writes one command: its line and the blank line that ends it. eslgo
// renders "api status" with a trailing space; FreeSWITCH ignores it, but it
// is trimmed so the double and logs see the command as typed.
func (c *Conn) send(cmd command.Command) error {
	msg := strings.TrimRight(cmd.BuildMessage(), " ") + "\n\n"
	_, err := c.nc.Write([]byte(msg))
	return err
}

// exchange runs op with exclusive use of the wire, bounded by ctx: the socket
// deadline is set from ctx's deadline (cleared when there is none, so no
// deadline sticks from an earlier call), and cancelling ctx expires the
// socket at once. Any failure of op, and any expiry of ctx while op ran,
// closes the connection.
func (c *Conn) exchange(ctx context.Context, op func() error) error {
	select {
	case <-c.turn:
	case <-ctx.Done():
		return fmt.Errorf("waiting for an earlier command: %w", context.Cause(ctx))
	}
	defer func() { c.turn <- struct{}{} }()
	if c.dead {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline() // zero when there is none: clears an old deadline
	if err := c.nc.SetDeadline(dl); err != nil {
		c.kill()
		return err
	}
	start := time.Now()
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	err := op()
	if !stop() {
		// ctx ended while op ran: the socket may hold half a reply.
		c.kill()
		if err == nil || isTimeout(err) {
			err = ctxErr(ctx, dl, start)
		}
		return err
	}
	if err != nil {
		c.kill()
		if isTimeout(err) {
			// Only exchange sets socket deadlines, and only to ctx's.
			err = ctxErr(ctx, dl, start)
		}
	}
	return err
}

// ctxErr describes the end of ctx: cancellation, or a timeoutError that
// matches context.DeadlineExceeded and says how long was waited.
func ctxErr(ctx context.Context, dl, start time.Time) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return context.Cause(ctx)
	}
	return &timeoutError{wait: dl.Sub(start)}
}

// timeoutError is a reply that did not come before the context's deadline.
type timeoutError struct{ wait time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no reply within %s", e.wait.Round(time.Millisecond))
}

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout marks the error as a timeout, like net.Error.
func (e *timeoutError) Timeout() bool { return true }

// kill closes the socket and marks the connection unusable. Callers hold the
// turn.
func (c *Conn) kill() {
	c.dead = true
	c.nc.Close()
}

// Close sends "exit" when the connection is idle and healthy, then closes it.
// It does not wait for FreeSWITCH's goodbye and returns within about 100 ms
// even when a command is in flight: that command then fails with ErrClosed or
// a network error.
func (c *Conn) Close() error {
	select {
	case <-c.turn:
		if !c.dead {
			c.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.send(command.Exit{}) // best effort; FreeSWITCH would answer +OK bye
			c.kill()
		}
		c.turn <- struct{}{}
		return nil
	case <-time.After(100 * time.Millisecond):
		// A command holds the wire; closing the socket ends it at once.
		return c.nc.Close()
	}
}

// Addr returns the address the connection was dialed to.
func (c *Conn) Addr() string { return c.addr }

// isTimeout reports a network timeout, including the one exchange forces
// when ctx is cancelled.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
