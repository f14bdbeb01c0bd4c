package ami

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAddress is where Asterisk's manager listens unless manager.conf says
// otherwise.
const DefaultAddress = "127.0.0.1:5038"

// maxSkipped bounds the events and stale responses read while waiting for one
// response, so an event flood ends in an error rather than a spin.
const maxSkipped = 10000

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and
// writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// Client is one logged-in AMI session over TCP.
//
// Every method takes a context and returns no later than its deadline (or its
// cancellation). A Client is not safe for concurrent use: it runs one action
// at a time. After any I/O error, timeout or malformed answer the connection
// is closed and every later call fails; a "Response: Error" answer
// (*ResponseError) leaves it usable.
type Client struct {
	addr    string
	conn    net.Conn
	r       *bufio.Reader
	banner  string
	version string
	seq     uint64
	buf     []byte
	err     error // first connection-level error; the connection is closed after it
}

// Dial connects to addr (host:port), reads the banner and logs in as
// username with secret, asking for no events ("Events: off").
//
// A rejected login returns an error wrapping ErrAuth. Real Asterisk answers a
// bad secret only after sleeping one second and then hangs up, so a deadline
// under a second reports a bad secret as a timeout.
func Dial(ctx context.Context, addr, username, secret string) (*Client, error) {
	if username == "" {
		return nil, fmt.Errorf("ami: login %s: %w: empty username", addr, errConfig)
	}
	began := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fmt.Errorf("ami: dial %s: %w", addr, describe(ctx, began, err))
	}
	c := &Client{addr: addr, conn: conn, r: bufio.NewReaderSize(conn, 4096)}
	if err := c.readBanner(ctx); err != nil {
		return nil, err
	}
	if err := c.login(ctx, username, secret); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// Banner returns the first line the server sent, e.g.
// "Asterisk Call Manager/9.0.0".
func (c *Client) Banner() string { return c.banner }

// AMIVersion returns the manager protocol version from the banner, e.g.
// "9.0.0".
func (c *Client) AMIVersion() string { return c.version }

// Addr returns the address the client dialled.
func (c *Client) Addr() string { return c.addr }

// Usable reports whether the connection can still run actions.
func (c *Client) Usable() bool { return c.err == nil }

// Do sends one action with a fresh ActionID and the given fields, and returns
// the response carrying that ActionID. Events and stale responses read in
// between are skipped. A "Response: Error" answer is returned together with a
// *ResponseError.
func (c *Client) Do(ctx context.Context, action string, fields ...Field) (Message, error) {
	op := strings.ToLower(action)
	if c.err != nil {
		return Message{}, fmt.Errorf("ami: %s %s: connection unusable after an earlier error: %w", op, c.addr, c.err)
	}
	c.seq++
	id := "pbxha-" + strconv.FormatUint(c.seq, 10)
	req := Message{Fields: make([]Field, 0, 2+len(fields))}
	req.Fields = append(req.Fields, Field{"Action", action}, Field{"ActionID", id})
	req.Fields = append(req.Fields, fields...)
	b, err := req.AppendEncode(c.buf[:0])
	if err != nil {
		return Message{}, fmt.Errorf("ami: %s %s: %w: %w", op, c.addr, errConfig, err)
	}
	c.buf = b

	began := time.Now()
	disarm := c.arm(ctx)
	resp, err := c.exchange(b, action, id)
	disarm()
	var re *ResponseError
	switch {
	case err == nil:
		return resp, nil
	case errors.As(err, &re):
		return resp, fmt.Errorf("ami: %s %s: %w", op, c.addr, err)
	default:
		c.err = describe(ctx, began, err)
		c.conn.Close()
		return Message{}, fmt.Errorf("ami: %s %s: %w", op, c.addr, c.err)
	}
}

// exchange writes one encoded action and reads until the response with id.
func (c *Client) exchange(req []byte, action, id string) (Message, error) {
	if _, err := c.conn.Write(req); err != nil {
		return Message{}, err
	}
	for range maxSkipped {
		m, err := ReadMessage(c.r)
		if err != nil {
			return Message{}, err
		}
		if m.IsEvent() {
			continue
		}
		resp, ok := m.Lookup("Response")
		if !ok {
			return Message{}, fmt.Errorf("%w: message is neither a response nor an event (first field %q)", ErrProtocol, m.Fields[0].Key)
		}
		got, ok := m.Lookup("ActionID")
		if !ok {
			return Message{}, fmt.Errorf("%w: %q response without ActionID", ErrProtocol, resp)
		}
		if got != id {
			continue // the late answer to an earlier action
		}
		if strings.EqualFold(resp, "Error") {
			return m, &ResponseError{Action: action, Message: m.Get("Message")}
		}
		return m, nil
	}
	return Message{}, fmt.Errorf("%w: %d messages without the response to %s", ErrProtocol, maxSkipped, action)
}

// arm applies ctx's deadline to the connection and makes cancellation
// interrupt blocked I/O. The returned func undoes the cancellation hook and
// waits for it if it already fired, so it cannot touch the next action.
func (c *Client) arm(ctx context.Context) (disarm func()) {
	dl, _ := ctx.Deadline() // zero when ctx has none: no deadline
	c.conn.SetDeadline(dl)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
	}
}

func (c *Client) readBanner(ctx context.Context) error {
	began := time.Now()
	disarm := c.arm(ctx)
	line, err := readLine(c.r, 512)
	disarm()
	if err == nil {
		_, ver, ok := strings.Cut(line, "Call Manager/")
		ver = strings.TrimSpace(ver)
		if ok && ver != "" {
			c.banner, c.version = line, ver
			return nil
		}
		err = fmt.Errorf("%w: not an AMI banner: %s", ErrProtocol, quoteShort(line))
	}
	c.err = describe(ctx, began, err)
	c.conn.Close()
	return fmt.Errorf("ami: banner %s: %w", c.addr, c.err)
}

func (c *Client) login(ctx context.Context, username, secret string) error {
	_, err := c.Do(ctx, "Login",
		Field{"Username", username}, Field{"Secret", secret}, Field{"Events", "off"})
	var re *ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("ami: login %s as %q: %w: %s", c.addr, username, ErrAuth, re.Message)
	}
	return err
}

// Logoff ends the session politely ("Action: Logoff", answered by "Response:
// Goodbye") and closes the connection.
func (c *Client) Logoff(ctx context.Context) error {
	if c.err != nil {
		return c.Close()
	}
	_, err := c.Do(ctx, "Logoff")
	c.Close()
	return err
}

// Close closes the connection without logging off.
func (c *Client) Close() error {
	if c.err == nil {
		c.err = net.ErrClosed
	}
	err := c.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// describe turns a deadline error into one that says how long was waited,
// and keeps every other error as it is.
func describe(ctx context.Context, began time.Time, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("canceled: %w", context.Canceled)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		if dl, ok := ctx.Deadline(); ok {
			return fmt.Errorf("no reply within %s: %w", dl.Sub(began).Round(time.Millisecond), context.DeadlineExceeded)
		}
		return fmt.Errorf("no reply in time: %w", context.DeadlineExceeded)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("connection closed by the server: %w", err)
	}
	return err
}
