package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
)

// maxReplyBody bounds how much of an endpoint's answer is kept for status and
// for `pbxha alert test`.
const maxReplyBody = 4 << 10

// Send encodes e for ep and POSTs it once, synchronously, as `pbxha alert
// test` does. It returns the HTTP status code and the start of the answer's
// body; err is non-nil for a transport failure or a status outside 2xx. The
// request ends after ep.Timeout (default 5s) or when ctx ends.
func Send(ctx context.Context, ep Endpoint, e event.Event, externalURL string) (code int, body string, err error) {
	ep = ep.withDefaults()
	payload, err := Encode(ep.Format, e, externalURL)
	if err != nil {
		return 0, "", err
	}
	return post(ctx, &http.Client{Timeout: ep.Timeout}, ep, e.ID, payload, time.Now())
}

// post sends one request. The error never contains the endpoint's full URL,
// whose path often holds a token (Slack, Mattermost); it names the endpoint
// and its host instead.
func post(ctx context.Context, client *http.Client, ep Endpoint, id string, payload []byte, now time.Time) (int, string, error) {
	target := ep.Name + " (" + hostOf(ep.URL) + ")"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, "", fmt.Errorf("alert: post %s: bad request: %w", target, stripURL(err))
	}
	for k, v := range ep.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pbxha")
	req.Header.Set(HeaderEventID, id)
	if ep.Secret != "" {
		ts := strconv.FormatInt(now.Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign([]byte(ep.Secret), ts, payload))
	}
	resp, err := client.Do(req)
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			return 0, "", fmt.Errorf("alert: post %s: no answer within %s: %w", target, client.Timeout, stripURL(err))
		}
		return 0, "", fmt.Errorf("alert: post %s: %w", target, stripURL(err))
	}
	defer resp.Body.Close()
	// A torn answer body does not change the status the endpoint sent.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	body := strings.ToValidUTF8(string(raw), "?")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, body, fmt.Errorf("alert: post %s: answered %s: %s", target, resp.Status, oneLine(body, 200))
	}
	return resp.StatusCode, body, nil
}

// stripURL removes the *url.Error wrapper, whose text repeats the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "invalid url"
	}
	return u.Host
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "empty body"
	}
	return truncate(s, n)
}

// retryable reports whether a failed delivery is worth retrying. A transport
// error or a 5xx, 408 or 429 is passing trouble. So are 401, 403 and 404 and the
// rest of 4xx: they are faults in the receiver's set-up (a rotated token, a
// moved path) that an operator fixes, after which every queued event is
// accepted; dropping a failover alert because a proxy was misrouted for an
// hour is the wrong trade. Only 400, 413, 415 and 422 say that this payload
// itself will never be accepted; retrying it would hold back every later event
// for max_age, so it is dropped with a log line and counted as rejected.
func retryable(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return false
	}
	return true
}
