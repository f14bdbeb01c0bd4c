package esl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// Prober checks one FreeSWITCH through one kept ESL connection. It implements
// probe.Probe.
//
// Each Check runs "status", "sofia status" and, with CountCalls, "show calls
// count" on the connection, dialing it first when there is none. A connection
// that failed in any way is discarded. A dial that failed is not retried
// before its back-off has passed (BackoffInitial doubling to BackoffMax, or
// AuthBackoff after a rejected password or ACL denial); until then Check
// reports the last failure without touching the network, so a wrong password
// never turns into a login storm.
type Prober struct {
	cfg  Config
	now  func() time.Time
	turn chan struct{} // one token: the holder owns the fields below

	conn     *Conn
	failures int       // dial failures in a row
	retryAt  time.Time // no dial before this
	lastErr  error     // the dial failure that set retryAt
	last     *reading  // the last complete reading
}

// New returns a Prober for cfg, after filling defaults and validating it. It
// does not connect; the first Check does.
func New(cfg Config) (*Prober, error) {
	return newProber(cfg, time.Now)
}

func newProber(cfg Config, now func() time.Time) (*Prober, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Prober{cfg: cfg, now: now, turn: make(chan struct{}, 1)}
	p.turn <- struct{}{}
	return p, nil
}

// Target returns the address the Prober checks.
func (p *Prober) Target() string { return p.cfg.Address }

// Check runs one check and returns by ctx's deadline (or within
// Config.Timeout when ctx has none). It is safe for concurrent use; checks
// are serialised, and one that cannot get its turn in time fails with
// class timeout.
func (p *Prober) Check(ctx context.Context) probe.Result {
	start := p.now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	res := probe.Result{Start: start}
	select {
	case <-p.turn:
	case <-ctx.Done():
		return p.failure(res, fmt.Errorf("esl: check %s: waiting for the previous check: %w", p.cfg.Address, context.Cause(ctx)))
	}
	defer func() { p.turn <- struct{}{} }()

	r, err := p.read(ctx)
	res.Latency = p.now().Sub(start)
	if err != nil {
		return p.failure(res, err)
	}
	p.last = &r
	v := judge(p.cfg, r)
	res.Status, res.Detail, res.Values = v.status, v.detail, v.values
	if v.status != probe.OK {
		res.Class = probe.ClassBadResponse
		res.Err = fmt.Errorf("esl: check %s: %s", p.cfg.Address, joinReasons(v.reasons))
	}
	return res
}

// Last returns what the most recent successful read found: the parsed
// "status" and "sofia status" (empty when sofia status could not be read).
// ok is false before any check has read FreeSWITCH.
func (p *Prober) Last() (st Status, sofia SofiaStatus, ok bool) {
	select {
	case <-p.turn:
	case <-time.After(time.Second):
		return st, sofia, false
	}
	defer func() { p.turn <- struct{}{} }()
	if p.last == nil {
		return st, sofia, false
	}
	return p.last.status, p.last.sofia, true
}

// Close drops the kept connection, sending "exit" when it is idle. A later
// Check dials again.
func (p *Prober) Close() error {
	select {
	case <-p.turn:
	case <-time.After(time.Second):
		return fmt.Errorf("esl: close %s: a check is still running", p.cfg.Address)
	}
	defer func() { p.turn <- struct{}{} }()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close()
	p.conn = nil
	return err
}

// read gets a reading over the kept connection. A kept connection that turns
// out to be gone (FreeSWITCH restarted, or closed it) is replaced once within
// the same check, so a restart between two checks does not cost a failed one.
func (p *Prober) read(ctx context.Context) (reading, error) {
	fresh := p.conn == nil
	if err := p.connect(ctx); err != nil {
		return reading{}, err
	}
	r, err := p.run(ctx)
	if err != nil {
		p.drop(err)
		if !fresh && staleConn(err) && ctx.Err() == nil {
			if err := p.connect(ctx); err != nil {
				return reading{}, err
			}
			if r, err = p.run(ctx); err != nil {
				p.drop(err)
			}
		}
	}
	return r, err
}

// connect dials unless a connection is kept, honouring the back-off.
func (p *Prober) connect(ctx context.Context) error {
	if p.conn != nil {
		return nil
	}
	if now := p.now(); now.Before(p.retryAt) {
		return &backoffError{addr: p.cfg.Address, wait: p.retryAt.Sub(now), last: p.lastErr}
	}
	c, err := Dial(ctx, p.cfg.Address, p.cfg.Password)
	if err != nil {
		p.failures++
		p.lastErr = err
		p.retryAt = p.now().Add(p.backoff(err))
		return err // reported in the Result; not logged as well
	}
	if p.failures > 0 {
		p.cfg.Logger.Info("esl connected", "probe", "esl", "target", p.cfg.Address, "after_failures", p.failures)
	}
	p.conn, p.failures, p.lastErr, p.retryAt = c, 0, nil, time.Time{}
	return nil
}

// backoff is the wait after the p.failures-th dial failure in a row.
func (p *Prober) backoff(err error) time.Duration {
	if errors.Is(err, ErrAuth) || errors.Is(err, ErrRejected) {
		return p.cfg.AuthBackoff
	}
	d := p.cfg.BackoffInitial
	for i := 1; i < p.failures && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.cfg.BackoffMax)
}

// drop discards the kept connection after a failure on it. Command errors
// (a "-ERR" body) leave it in place.
func (p *Prober) drop(err error) {
	var ce *CommandError
	if p.conn == nil || errors.As(err, &ce) {
		return
	}
	p.cfg.Logger.Debug("esl connection discarded", "probe", "esl", "target", p.cfg.Address)
	p.conn.Close()
	p.conn = nil
}

// run sends the check's commands on the kept connection and parses them.
func (p *Prober) run(ctx context.Context) (reading, error) {
	var r reading
	body, err := p.conn.API(ctx, "status")
	if err != nil {
		return r, err
	}
	if r.status, err = ParseStatus(body); err != nil {
		return r, fmt.Errorf("esl: api status %s: %w", p.cfg.Address, err)
	}
	body, err = p.conn.API(ctx, "sofia status")
	var ce *CommandError
	switch {
	case errors.As(err, &ce):
		r.sofiaErr = err
	case err != nil:
		return r, err
	default:
		if r.sofia, err = ParseSofiaStatus(body); err != nil {
			r.sofiaErr = fmt.Errorf("esl: api sofia status %s: %w", p.cfg.Address, err)
		}
	}
	if p.cfg.CountCalls {
		if body, err = p.conn.API(ctx, "show calls count"); err != nil {
			return r, err
		}
		if r.calls, err = ParseCallsCount(body); err != nil {
			return r, fmt.Errorf("esl: api show calls count %s: %w", p.cfg.Address, err)
		}
		r.hasCalls = true
	}
	return r, nil
}

// failure fills a failed result from err.
func (p *Prober) failure(res probe.Result, err error) probe.Result {
	res.Status = probe.Failed
	res.Err = err
	res.Class = classify(err)
	var be *backoffError
	switch {
	case errors.As(err, &be):
		res.Detail = fmt.Sprintf("not connected, next dial in %s", be.wait.Round(time.Millisecond))
	case res.Class == probe.ClassTimeout:
		res.Detail = "ESL did not answer in time"
	case res.Class == probe.ClassAuth && errors.Is(err, ErrRejected):
		res.Detail = "ESL access denied by ACL"
	case res.Class == probe.ClassAuth:
		res.Detail = "ESL password rejected"
	case res.Class == probe.ClassRefused:
		res.Detail = "ESL connection refused"
	case res.Class == probe.ClassBadResponse:
		res.Detail = "unexpected ESL reply"
	default:
		res.Detail = "ESL connection failed"
	}
	return res
}

// backoffError is a check skipped because the last dial failed recently.
type backoffError struct {
	addr string
	wait time.Duration
	last error
}

func (e *backoffError) Error() string {
	return fmt.Sprintf("esl: check %s: next dial in %s after: %v", e.addr, e.wait.Round(time.Millisecond), e.last)
}

func (e *backoffError) Unwrap() error { return e.last }

// classify maps an error to a probe error class.
func classify(err error) string {
	var ce *CommandError
	switch {
	case errors.Is(err, ErrAuth), errors.Is(err, ErrRejected):
		return probe.ClassAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.Canceled), isTimeout(err):
		return probe.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return probe.ClassRefused
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnexpected), errors.As(err, &ce),
		errors.Is(err, ErrNotStatus), errors.Is(err, ErrNotSofiaStatus), errors.Is(err, ErrNotCallsCount):
		return probe.ClassBadResponse
	default:
		return probe.ClassTransport
	}
}

// staleConn reports a failure that means the kept connection was already
// gone, as opposed to a server that is slow or sends nonsense.
func staleConn(err error) bool {
	return classify(err) == probe.ClassTransport
}

func joinReasons(rs []string) string {
	switch len(rs) {
	case 0:
		return ""
	case 1:
		return rs[0]
	}
	s := rs[0]
	for _, r := range rs[1:] {
		s += "; " + r
	}
	return s
}
