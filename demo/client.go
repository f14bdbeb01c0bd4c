package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/sipcheck"
)

// Client pacing: a request every clientEvery, each given clientTimeout, so
// clientWorkers requests can be out at once. An outage is measured to
// clientEvery.
const (
	clientEvery   = 50 * time.Millisecond
	clientWorkers = 5
	clientTimeout = 200 * time.Millisecond
)

// errNoHolder is a request the loopback client could not send: no node
// holds the simulated VIP.
var errNoHolder = errors.New("no node holds the VIP")

// vipClient sends SIP OPTIONS to the service address every clientEvery, as
// the phones of a PBX pair would, and records when the service answered and
// when it was out. Its methods are safe for concurrent use.
type vipClient struct {
	// route returns the SIP target the VIP leads to now and a name for who
	// answers there ("" when unknown), or errNoHolder.
	route func() (target, via string, err error)
	// within runs one worker; it returns when the worker does (the netns
	// mode runs it on a thread inside the client namespace).
	within func(func() error) error
	say    func(format string, args ...any)

	mu        sync.Mutex
	answered  int
	failed    int
	lastOK    time.Time // send time of the newest answered request
	lastVia   string
	downSince time.Time // send time of the first unanswered request after lastOK; zero while up
	downWhy   string
	outages   []outage
}

// outage is a stretch of unanswered requests, by their send times: From is
// the first unanswered one, To the first answered one after it.
type outage struct {
	From, To time.Time
	Why      string // why the first request failed
	Via      string // who answered at To
}

func (o outage) length() time.Duration { return o.To.Sub(o.From) }

// run sends requests until ctx ends.
func (c *vipClient) run(ctx context.Context) {
	slots := make(chan time.Time)
	var wg sync.WaitGroup
	for range clientWorkers {
		wg.Go(func() {
			err := c.within(func() error { c.work(ctx, slots); return nil })
			if err != nil {
				c.say("client worker: %v", err)
			}
		})
	}
	tick := time.NewTicker(clientEvery)
	defer func() {
		tick.Stop()
		close(slots)
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			select {
			case slots <- now:
			default: // every worker is waiting for an answer: skip this slot
			}
		}
	}
}

// work sends one request per slot received, with a prober per target.
func (c *vipClient) work(ctx context.Context, slots <-chan time.Time) {
	probers := map[string]*sipcheck.Prober{}
	defer func() {
		for _, p := range probers {
			p.Close()
		}
	}()
	for range slots {
		sent := time.Now()
		target, via, err := c.route()
		if err == nil {
			p := probers[target]
			if p == nil {
				if p, err = sipcheck.New(sipcheck.Config{Target: target}, nil); err == nil {
					probers[target] = p
				}
			}
			if p != nil {
				rctx, cancel := context.WithTimeout(ctx, clientTimeout)
				var r sipcheck.Reply
				r, err = p.Options(rctx)
				cancel()
				if err == nil && r.Code != 200 {
					err = fmt.Errorf("%d %s", r.Code, r.Reason)
				}
				if err != nil {
					err = errors.New(shortErr(target, err))
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.record(sent, via, err)
	}
}

// record files one request's outcome and prints the changes: the first
// answer, the first unanswered request, the first answer after an outage.
func (c *vipClient) record(sent time.Time, via string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.lastOK.IsZero() {
			c.failed++ // before the first answer, no node held the VIP yet
		}
		// Only a request sent after the newest answer opens an outage: an
		// older one that timed out late says nothing new.
		if !c.lastOK.IsZero() && sent.After(c.lastOK) && c.downSince.IsZero() {
			c.downSince, c.downWhy = sent, err.Error()
			c.say("no answer via the VIP (request sent at %s: %s)", clock(sent), c.downWhy)
		}
		return
	}
	c.answered++
	first := c.lastOK.IsZero()
	if !first && !sent.After(c.lastOK) {
		return // a late answer to an older request: nothing new
	}
	c.lastOK = sent
	switch {
	case first:
		c.say("the service answers via the VIP%s", byWhom(via))
	case !c.downSince.IsZero():
		o := outage{From: c.downSince, To: sent, Why: c.downWhy, Via: via}
		c.outages = append(c.outages, o)
		c.downSince = time.Time{}
		c.say("the service answers again via the VIP%s: out for %s", byWhom(via), msText(o.length()))
	case via != c.lastVia:
		c.say("the service answers via the VIP%s, without a lost request", byWhom(via))
	}
	c.lastVia = via
}

// answeringSince reports whether the newest request was answered and was
// sent after t.
func (c *vipClient) answeringSince(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastOK.After(t) && c.downSince.IsZero()
}

// outagesSince returns the outages that ended after t. One may have begun
// a moment before t: its first unanswered request was in flight when the
// PBX froze.
func (c *vipClient) outagesSince(t time.Time) []outage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []outage
	for _, o := range c.outages {
		if o.To.After(t) {
			out = append(out, o)
		}
	}
	return out
}

// counts returns how many requests were answered and how many were not
// since the first answer.
func (c *vipClient) counts() (answered, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered, c.failed
}

func byWhom(via string) string {
	if via == "" {
		return ""
	}
	return " (" + via + ")"
}

// shortErr names a failed request's cause in a few words: the prober's
// detail without its prefix and cause ("no reply within 200ms").
func shortErr(target string, err error) string {
	s := strings.TrimPrefix(err.Error(), "sipcheck: options "+target+": ")
	detail, _, _ := strings.Cut(s, ": ")
	return detail
}

// msText formats d in whole milliseconds: "850 ms".
func msText(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// clock formats a wall-clock time to the millisecond.
func clock(t time.Time) string { return t.Format("15:04:05.000") }
