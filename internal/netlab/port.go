package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// FreePort returns a port on ip that nothing had bound, for UDP or for TCP,
// a moment ago: a port for a server the caller is about to start, or a
// closed port that refuses connections. Nothing holds it after the call, so
// another process may take it first; callers that start a server on it
// retry or tolerate that. It tries up to 20 ports.
//
// The demo uses it at run time, the tests through testenv.
func FreePort(ip netip.Addr) (int, error) {
	var errs []error
	for range 20 {
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			return 0, fmt.Errorf("netlab: free port on %s: %w", ip, err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
		errs = append(errs, err) // free for UDP, taken for TCP: try another
	}
	return 0, fmt.Errorf("netlab: free port on %s: no port free for both UDP and TCP in 20 tries: %w", ip, errors.Join(errs...))
}
