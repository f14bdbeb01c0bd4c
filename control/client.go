package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// ErrNoDaemon means nothing answered on the control socket: no daemon runs,
// or it runs with another socket path.
var ErrNoDaemon = errors.New("no pbxha daemon answering")

// Client calls the control API over its unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// Status fetches the daemon's status. Its error wraps ErrNoDaemon when the
// socket does not answer.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://pbxha/v1/status", nil)
	if err != nil {
		return st, fmt.Errorf("control: status %s: %w", c.socket, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return st, fmt.Errorf("control: status %s: %w: %w", c.socket, ErrNoDaemon, op.Err)
		}
		return st, fmt.Errorf("control: status %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return st, fmt.Errorf("control: status %s: read: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("control: status %s: %s: %s", c.socket, resp.Status, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("control: status %s: decode: %w", c.socket, err)
	}
	return st, nil
}
