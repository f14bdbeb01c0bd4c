package sipcheck

import (
	"context"
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
	req, _ := p.newRequest(nil, from)
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
	local := ""
	if v := req.Via(); v != nil {
		local = v.SentBy()
	}
	return newReply(res, t.Transport, time.Since(sent), local), nil
}
