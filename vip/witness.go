package vip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoWitness: the VIP's mode or family cannot be witnessed (script or
// none mode, or an IPv6 address).
var ErrNoWitness = errors.New("no witness for this VIP")

// probeGap is the spacing of the ARP probes a witness sends.
const probeGap = 15 * time.Millisecond

// CanWitness reports whether Witness works for this VIP: netlink mode with
// an IPv4 address.
func (v *VIP) CanWitness() bool {
	n, ok := v.be.(*netlinkVIP)
	return ok && n.prefix.Addr().Is4()
}

// Witness asks who answers on the VIP's network for the address: it sends
// ARP probes (RFC 5227: sender address 0.0.0.0, so that no neighbour cache
// learns from them) from the VIP's interface for up to within and returns
// held true, with the answering MAC, when another interface answers — the
// node that holds the VIP still serves. held is false when nobody answered
// in time. An IPv6 address or a mode without an interface returns
// ErrNoWitness.
func (v *VIP) Witness(ctx context.Context, within time.Duration) (held bool, who string, err error) {
	n, ok := v.be.(*netlinkVIP)
	if !ok || !n.prefix.Addr().Is4() {
		return false, "", fmt.Errorf("vip: witness %s: %w", v.cfg.Address, ErrNoWitness)
	}
	link, err := n.link()
	if err != nil {
		return false, "", fmt.Errorf("vip: witness %s: %w", n.where, err)
	}
	a := link.Attrs()
	if !canAnnounce(link) {
		return false, "", fmt.Errorf("vip: witness %s: %w: the interface does not use ARP", n.where, ErrNoWitness)
	}
	mac, ip := a.HardwareAddr, n.prefix.Addr()
	return arpWitness(ctx, a.Index, mac, ip, within)
}

// arpWitness sends ARP probes for ip from mac on interface ifindex and
// reports the first other MAC that answers for ip within the deadline.
func arpWitness(ctx context.Context, ifindex int, mac net.HardwareAddr, ip netip.Addr, within time.Duration) (bool, string, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(etherTypeARP)))
	if err != nil {
		return false, "", fmt.Errorf("vip: witness %s: open packet socket: %w", ip, err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifindex}); err != nil {
		return false, "", fmt.Errorf("vip: witness %s: bind: %w", ip, err)
	}
	probe, err := arpPacket{
		Dst: broadcastMAC(), Src: mac, Op: arpRequest, SenderMAC: mac, SenderIP: netip.IPv4Unspecified(),
		TargetMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, TargetIP: ip,
	}.marshal()
	if err != nil {
		return false, "", fmt.Errorf("vip: witness %s: %w", ip, err)
	}
	dst := &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifindex, Halen: 6}
	copy(dst.Addr[:], broadcastMAC())
	deadline := time.Now().Add(within)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 1500)
	nextProbe := time.Now()
	for range 1000 { // bounded: at most one probe or frame per round
		now := time.Now()
		if !now.Before(deadline) {
			return false, "", nil
		}
		if !now.Before(nextProbe) {
			if err := unix.Sendto(fd, probe, 0, dst); err != nil {
				return false, "", fmt.Errorf("vip: witness %s: send: %w", ip, err)
			}
			nextProbe = now.Add(probeGap)
		}
		until := nextProbe
		if deadline.Before(until) {
			until = deadline
		}
		wait := time.Until(until)
		if wait <= 0 {
			continue
		}
		tv := unix.NsecToTimeval(wait.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return false, "", fmt.Errorf("vip: witness %s: %w", ip, err)
		}
		k, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return false, "", fmt.Errorf("vip: witness %s: receive: %w", ip, err)
		}
		p, err := parseARP(buf[:k])
		if err != nil || p.SenderIP != ip || bytesEqual(p.SenderMAC, mac) {
			continue // not about the VIP, or our own
		}
		if p.Op == arpReply || p.isGratuitous() {
			return true, p.SenderMAC.String(), nil
		}
		if err := ctx.Err(); err != nil {
			return false, "", fmt.Errorf("vip: witness %s: %w", ip, err)
		}
	}
	return false, "", nil
}

func bytesEqual(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }
