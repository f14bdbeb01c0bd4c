package sipcheck

import (
	"context"
	"net"
	"net/netip"
)

// localSource returns the address the kernel would send from toward the
// target: a connected UDP socket learns it without sending a packet. The
// result is cached; a failure is retried on the next call.
func (p *Prober) localSource(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.source != "" {
		return p.source, nil
	}
	conn, err := p.dialer.DialContext(ctx, "udp", p.s.target.Addr())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	p.source = conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().String()
	return p.source, nil
}

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
