package sipcheck

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// optionsPooled runs one OPTIONS transaction through the shared sipgo client
// and its pooled TCP or TLS connection. sipgo fills the Via sent-by with the
// connection's local address; From carries LocalHost or the kernel's source
// address toward the target.
func (p *Prober) optionsPooled(ctx context.Context) (Reply, error) {
	t := p.s.target
	from := p.s.localHost
	if from == "" {
		var err error
		if from, err = p.localSource(ctx); err != nil {
			return Reply{}, err
		}
	}
	req, id := p.newRequest(nil, from)
	req.SetTransport(strings.ToUpper(t.Transport))
	req.SetDestination(t.Addr())
	sent := time.Now()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		return Reply{}, err
	}
	// sipgo matches a reply to its transaction by the Via branch and the
	// CSeq method only; a reply with another Call-ID or CSeq number answers
	// some other request and is not this check's answer.
	if _, kind, merr := matchReply(res, id); kind != replyFinal {
		if merr == nil {
			merr = fmt.Errorf("reply %d is not final", res.StatusCode)
		}
		return Reply{}, errBadReply(merr)
	}
	local := ""
	if v := req.Via(); v != nil {
		local = v.SentBy()
	}
	return newReply(res, t.Transport, time.Since(sent), local), nil
}
