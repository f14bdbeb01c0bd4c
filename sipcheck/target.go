package sipcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Transports a target can name.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// Target is a parsed SIP URI to send OPTIONS to.
type Target struct {
	URI       sip.Uri // the Request-URI, as written
	Transport string  // TransportUDP, TransportTCP or TransportTLS
	Host      string  // IP address (no brackets) or DNS name
	Port      int     // explicit port, else 5060 (5061 for TLS)
	raw       string
}

// ParseTarget parses a target such as "sip:127.0.0.1:5060;transport=udp" or
// "sips:pbx.example.net". The transport comes from the transport parameter
// (udp, tcp or tls; default udp, or tls for sips). The error says what is
// wrong with the URI.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	t := Target{raw: s}
	if s == "" {
		return t, errors.New("target: empty URI")
	}
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || (!strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips")) {
		return t, fmt.Errorf("target %q: scheme must be sip: or sips:", s)
	}
	if err := sip.ParseUri(s, &t.URI); err != nil {
		return t, fmt.Errorf("target %q: %w", s, err)
	}
	if t.URI.Wildcard || t.URI.Raw() != "" {
		return t, fmt.Errorf("target %q: not a SIP URI", s)
	}
	if t.URI.Headers.Length() > 0 {
		return t, fmt.Errorf("target %q: a Request-URI cannot carry headers (?...)", s)
	}
	host := t.URI.Host
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return t, fmt.Errorf("target %q: IPv6 address without closing bracket", s)
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return t, fmt.Errorf("target %q: %q is not an IPv6 address", s, host)
		}
		host = host[1 : len(host)-1]
	} else if !ValidHost(host) {
		return t, fmt.Errorf("target %q: %q is not a host name or IPv4 address", s, host)
	}
	t.Host = host

	secure := strings.EqualFold(scheme, "sips")
	t.Transport = TransportUDP
	if secure {
		t.Transport = TransportTLS
	}
	if v, ok := t.URI.UriParams.Get("transport"); ok {
		switch strings.ToLower(v) {
		case TransportUDP:
			if secure {
				return t, fmt.Errorf("target %q: sips: needs transport tcp or tls, not udp", s)
			}
			t.Transport = TransportUDP
		case TransportTCP:
			t.Transport = TransportTCP
			if secure {
				t.Transport = TransportTLS
			}
		case TransportTLS:
			t.Transport = TransportTLS
		default:
			return t, fmt.Errorf("target %q: transport %q is not supported (udp, tcp, tls)", s, v)
		}
	}
	switch {
	case t.URI.Port < 0 || t.URI.Port > 65535:
		return t, fmt.Errorf("target %q: port %d is out of range", s, t.URI.Port)
	case t.URI.Port > 0:
		t.Port = t.URI.Port
	case t.Transport == TransportTLS:
		t.Port = 5061
	default:
		t.Port = 5060
	}
	return t, nil
}

// ValidHost reports whether h is an IPv4 address or a DNS name (no trailing
// dot), as a SIP target host or local_host.
func ValidHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Is4()
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Addr returns host:port for dialing.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String returns the URI as written.
func (t Target) String() string { return t.raw }
