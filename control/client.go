package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// ErrNoDaemon means nothing answered on the control socket: no daemon runs,
// or it runs with another socket path.
var ErrNoDaemon = errors.New("no pbxha daemon answering")

// ErrPermission means the caller may not open the control socket (or its
// directory): a daemon may well be running. It wraps os.ErrPermission.
var ErrPermission = fmt.Errorf("permission denied: %w", os.ErrPermission)

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
	resp, err := c.do(req, "status")
	if err != nil {
		return st, err
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

// do sends req; a socket that does not answer gives an error wrapping
// ErrNoDaemon.
func (c *Client) do(req *http.Request, op string) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err == nil {
		return resp, nil
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		if errors.Is(oe.Err, os.ErrPermission) {
			return nil, fmt.Errorf("control: %s %s: %w", op, c.socket, ErrPermission)
		}
		return nil, fmt.Errorf("control: %s %s: %w: %w", op, c.socket, ErrNoDaemon, oe.Err)
	}
	return nil, fmt.Errorf("control: %s %s: %w", op, c.socket, err)
}

// PBX asks the daemon to restart, stop, start or reset the supervised PBX and
// waits for the answer.
func (c *Client) PBX(ctx context.Context, action string) error {
	return c.post(ctx, "/v1/pbx/"+action)
}

// Maintenance switches the daemon's maintenance mode.
func (c *Client) Maintenance(ctx context.Context, on bool) error {
	state := "off"
	if on {
		state = "on"
	}
	return c.post(ctx, "/v1/maintenance/"+state)
}

// Restart asks the daemon to stop for a restart that keeps its role.
func (c *Client) Restart(ctx context.Context) error {
	return c.post(ctx, "/v1/restart")
}

func (c *Client) post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://pbxha"+path, nil)
	if err != nil {
		return fmt.Errorf("control: %s %s: %w", path, c.socket, err)
	}
	resp, err := c.do(req, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &ActionError{Code: resp.StatusCode, Msg: e.Error}
	}
	return &ActionError{Code: resp.StatusCode, Msg: resp.Status}
}

// Rebuild asks the daemon to start a standby rebuild; it answers once the
// rebuild runs, or refuses (an *ActionError with Code 409).
func (c *Client) Rebuild(ctx context.Context) error {
	return c.post(ctx, "/v1/standby/rebuild")
}

// ActionError is the daemon's refusal of an action.
type ActionError struct {
	Code int    // HTTP status: 400 bad request, 404 nothing to act on, 409 refused as the node stands, 500 the action failed
	Msg  string // the daemon's reason
}

func (e *ActionError) Error() string { return e.Msg }

// Switchover asks the daemon for a planned switchover and waits for its
// outcome: the daemon answers when it is done, or timed out after the drain
// plus timeout (0: the daemon's own request timeout). ctx should outlast
// drain+timeout, or the answer is lost while the daemon ends the request.
func (c *Client) Switchover(ctx context.Context, to string, drain, timeout time.Duration, force bool) (SwitchoverResult, error) {
	var res SwitchoverResult
	q := url.Values{"to": {to}, "drain": {drain.String()}, "force": {strconv.FormatBool(force)}}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://pbxha/v1/switchover?"+q.Encode(), nil)
	if err != nil {
		return res, fmt.Errorf("control: switchover %s: %w", c.socket, err)
	}
	resp, err := c.do(req, "switchover")
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return res, &ActionError{Code: resp.StatusCode, Msg: e.Error}
		}
		return res, &ActionError{Code: resp.StatusCode, Msg: resp.Status}
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("control: switchover %s: decode: %w", c.socket, err)
	}
	return res, nil
}
