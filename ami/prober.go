package ami

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// Reconnect back-off after failed connects or logins, doubling from base to
// cap (the same as the esl probe's). A rejected login waits a full minute
// every time: retrying a wrong secret every second fills Asterisk's security
// log and can trip fail2ban.
const (
	retryBase     = 500 * time.Millisecond
	retryCap      = 10 * time.Second
	authRetryBase = time.Minute
	authRetryCap  = time.Minute
)

// Config is one AMI probe target. It mirrors configs.AMIProbe, with the secret
// already read from its file.
type Config struct {
	Address  string // host:port; empty means DefaultAddress
	Username string // manager.conf user
	Secret   string // its secret
	MaxCalls int    // degraded at or above this many current calls; 0 disables
}

// Prober checks Asterisk through AMI: it keeps one logged-in connection open
// across checks, sends Ping and CoreStatus on each check, and reconnects with
// back-off after the connection is lost. It implements probe.Probe and is safe
// for concurrent use (checks run one at a time).
type Prober struct {
	cfg Config
	now func() time.Time
	loc *time.Location
	sem chan struct{} // held while a check runs; guards the fields below

	client    *Client
	settings  CoreSettings
	failures  int       // consecutive failed connects or logins
	retryAt   time.Time // no new connect before this
	lastErr   error     // why the last connect failed
	lastClass string
}

// Option changes how New builds a Prober.
type Option func(*Prober)

// WithClock sets the clock used for Result.Start, uptimes and back-off;
// the default is time.Now.
func WithClock(now func() time.Time) Option { return func(p *Prober) { p.now = now } }

// WithLocation sets the time zone Asterisk prints its start and reload times
// in; the default is time.Local.
func WithLocation(loc *time.Location) Option { return func(p *Prober) { p.loc = loc } }

// New checks cfg and returns a Prober. It does not connect yet.
func New(cfg Config, opts ...Option) (*Prober, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("ami: address %q: %w", cfg.Address, err)
	}
	switch {
	case cfg.Username == "":
		return nil, fmt.Errorf("ami: %s: username is empty", cfg.Address)
	case strings.ContainsAny(cfg.Username+cfg.Secret, "\r\n"):
		return nil, fmt.Errorf("ami: %s: username or secret holds a line break", cfg.Address)
	case cfg.MaxCalls < 0:
		return nil, fmt.Errorf("ami: %s: max_calls %d is negative", cfg.Address, cfg.MaxCalls)
	}
	p := &Prober{cfg: cfg, now: time.Now, loc: time.Local, sem: make(chan struct{}, 1)}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Check runs one check: connect and log in if needed, Ping, CoreStatus.
// It returns Failed when no banner, login answer or Pong arrives before ctx's
// deadline; Degraded (class bad_response, no error) when current calls reach
// MaxCalls; OK otherwise. While a reconnect back-off runs, it reports the
// last connect failure without touching the network. Values
// holds calls, uptime_seconds, since_reload_seconds and, from Asterisk 22,
// processed_calls.
func (p *Prober) Check(ctx context.Context) probe.Result {
	start := p.now()
	began := time.Now()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		err := fmt.Errorf("ami: check %s: another check still running: %w", p.cfg.Address, ctx.Err())
		return probe.Result{Status: probe.Failed, Class: probe.ClassTimeout, Err: err, Detail: "no answer", Start: start}
	}
	defer func() { <-p.sem }()
	r := p.check(ctx, start)
	r.Start = start
	r.Latency = time.Since(began)
	return r
}

func (p *Prober) check(ctx context.Context, now time.Time) probe.Result {
	reused := p.client != nil
	if !reused {
		if now.Before(p.retryAt) {
			err := fmt.Errorf("ami: connect %s: next attempt in %s: %w",
				p.cfg.Address, p.retryAt.Sub(now).Round(time.Millisecond), p.lastErr)
			return failed(p.lastClass, err)
		}
		c, err := Dial(ctx, p.cfg.Address, p.cfg.Username, p.cfg.Secret)
		if err != nil {
			p.connectFailed(now, err)
			return failed(p.lastClass, err)
		}
		p.client, p.failures, p.lastErr = c, 0, nil
		p.settings, err = c.CoreSettings(ctx)
		if err != nil && !isResponseError(err) {
			return p.drop(err)
		}
	}
	if err := p.client.Ping(ctx); err != nil {
		if reused && Class(err) == probe.ClassTransport && ctx.Err() == nil {
			// The kept connection died while idle (Asterisk restarted, a
			// firewall dropped it): that says nothing about Asterisk now, so
			// reconnect once within this check.
			p.drop(err)
			return p.check(ctx, now)
		}
		return p.drop(err)
	}
	st, err := p.client.CoreStatus(ctx, p.loc)
	if err != nil {
		if p.client.Usable() {
			return failed(Class(err), err) // e.g. the user lacks the "system" read permission
		}
		return p.drop(err)
	}
	return p.verdict(now, st)
}

// verdict turns a CoreStatus into a Result.
func (p *Prober) verdict(now time.Time, st CoreStatus) probe.Result {
	r := probe.Result{Status: probe.OK, Values: map[string]float64{"calls": float64(st.CurrentCalls)}}
	var b strings.Builder
	b.WriteString("Asterisk")
	if v := p.settings.AsteriskVersion; v != "" {
		b.WriteString(" " + v)
	}
	fmt.Fprintf(&b, " (AMI %s)", p.client.AMIVersion())
	if up, ok := elapsed(now, st.Startup); ok {
		r.Values["uptime_seconds"] = up.Seconds()
		fmt.Fprintf(&b, " up %s,", fmtUptime(up))
	}
	if since, ok := elapsed(now, st.Reload); ok {
		r.Values["since_reload_seconds"] = since.Seconds()
	}
	if st.ProcessedCalls >= 0 {
		r.Values["processed_calls"] = float64(st.ProcessedCalls)
	}
	fmt.Fprintf(&b, " %d call", st.CurrentCalls)
	if st.CurrentCalls != 1 {
		b.WriteString("s")
	}
	if p.cfg.MaxCalls > 0 && st.CurrentCalls >= p.cfg.MaxCalls {
		r.Status, r.Class = probe.Degraded, probe.ClassBadResponse
		fmt.Fprintf(&b, " (max_calls %d reached)", p.cfg.MaxCalls)
	}
	r.Detail = b.String()
	return r
}

// elapsed returns now-t in whole seconds, or false when t is unknown or in
// the future (a zone mismatch between Asterisk and this host).
func elapsed(now, t time.Time) (time.Duration, bool) {
	if t.IsZero() {
		return 0, false
	}
	d := now.Sub(t)
	if d < 0 {
		return 0, false
	}
	return time.Duration(math.Floor(d.Seconds())) * time.Second, true
}

// fmtUptime renders a duration the way a person reads an uptime: 45s, 12m,
// 3h, 2d4h.
func fmtUptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	days := int(d / (24 * time.Hour))
	if h := int(d%(24*time.Hour)) / int(time.Hour); h > 0 {
		return fmt.Sprintf("%dd%dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}

// connectFailed records a failed connect or login and schedules the next try.
func (p *Prober) connectFailed(now time.Time, err error) {
	p.failures++
	p.lastErr, p.lastClass = err, Class(err)
	base, limit := retryBase, retryCap
	if errors.Is(err, ErrAuth) {
		base, limit = authRetryBase, authRetryCap
	}
	wait := limit
	if n := p.failures - 1; n < 16 {
		wait = min(base<<n, limit)
	}
	p.retryAt = now.Add(wait)
}

// drop discards a connection that failed and reports the failure. The next
// check reconnects at once.
func (p *Prober) drop(err error) probe.Result {
	p.client.Close()
	p.client = nil
	return failed(Class(err), err)
}

// Close logs off and closes the connection, waiting at most one second.
func (p *Prober) Close() error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	if p.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.client.Logoff(ctx)
	p.client = nil
	return err
}

func failed(class string, err error) probe.Result {
	detail := "no answer"
	switch class {
	case probe.ClassAuth:
		detail = "login rejected"
		if permissionDenied(err) {
			detail = "permission denied"
		}
	case probe.ClassRefused:
		detail = "connection refused"
	case probe.ClassBadResponse:
		detail = "bad answer"
	case probe.ClassConfig:
		detail = "cannot run as configured"
	}
	return probe.Result{Status: probe.Failed, Class: class, Err: err, Detail: detail}
}

func isResponseError(err error) bool {
	var re *ResponseError
	return errors.As(err, &re)
}
