package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// splitHostPort checks host:port, with an IPv6 host in brackets. The host is
// an IP address or a DNS name, or empty (callers decide whether that is
// allowed). The port (1-65535) is required when needPort; a missing one is
// returned as 0.
func splitHostPort(s string, needPort bool) (string, int, error) {
	host, portText := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, errors.New(`has "[" without "]"`)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, fmt.Errorf("has %q after the IPv6 address", rest)
			}
			portText = rest[1:]
			if portText == "" {
				return "", 0, errors.New(`ends in ":" without a port`)
			}
		}
		if !isIPv6(host) {
			return "", 0, fmt.Errorf("%q is not an IPv6 address", host)
		}
	case strings.Count(s, ":") > 1:
		return "", 0, errors.New("has an IPv6 address that is not in brackets, e.g. [2001:db8::1]:5060")
	default:
		h, p, ok := strings.Cut(s, ":")
		switch {
		case ok:
			host, portText = h, p
			if portText == "" {
				return "", 0, errors.New(`ends in ":" without a port`)
			}
		case needPort:
			return "", 0, errors.New("has no port; write host:port")
		}
		if host != "" && !isHostName(host) {
			return "", 0, fmt.Errorf("%q is not an IP address or host name", host)
		}
	}
	port := 0
	if portText != "" {
		n, err := strconv.Atoi(portText)
		if err != nil || n < 1 || n > 65535 || portText[0] == '+' {
			return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", portText)
		}
		port = n
	}
	if needPort && port == 0 {
		return "", 0, errors.New("has no port; write host:port")
	}
	return host, port, nil
}

// isIPv6 reports whether s is an IPv6 address (a zone such as %eth0 allowed).
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// isHostName reports whether s is an IPv4 address or a DNS name: dot-separated
// labels of letters, digits, "-" and "_", each 1-63 long, 253 at most in all.
func isHostName(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Is4()
	}
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false // all-numeric last label: a mistyped IPv4 address such as 10.0.0.256
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
