package sipcheck

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultAccept    = "200"
	DefaultDegraded  = "503"
	DefaultFromUser  = "pbxha"
	DefaultUserAgent = "pbxha"
)

// Config is one SIP OPTIONS probe. It mirrors configs.SIPProbe without the
// schedule, which belongs to the caller.
type Config struct {
	Target          string // sip:host[:port][;transport=udp|tcp|tls] or sips:host[:port]
	Accept          string // codes that pass, e.g. "2xx,401,403,404"; default "200"
	Degraded        string // codes that mean degraded; default "503"; "none" for no such code
	FromUser        string // user part of From; default "pbxha"
	UserAgent       string // User-Agent header; default "pbxha"
	LocalHost       string // host in Via and From; default: the local address the kernel uses toward the target
	FreshConnection bool   // TCP/TLS: dial a new connection for every check instead of reusing one
	TLS             TLSConfig
}

// TLSConfig configures the TLS client of a sips: or transport=tls target.
type TLSConfig struct {
	CAFile     string // PEM bundle to verify the server with; default: the system roots
	ServerName string // name to verify in the certificate; default: the target host
	Insecure   bool   // skip certificate verification (testing only)
}

// settings is a validated Config.
type settings struct {
	target    Target
	accept    CodeSet
	degraded  CodeSet
	fromUser  string
	userAgent string
	localHost string
	fresh     bool
	tls       *tls.Config // nil unless the transport is TLS
}

// Validate reports every problem of the config, each naming its field, or
// nil. It does not touch the network; a CA file is read and parsed.
func (c Config) Validate() error {
	_, err := c.settings()
	return err
}

func (c Config) settings() (settings, error) {
	var s settings
	var errs []error
	var err error
	if s.target, err = ParseTarget(c.Target); err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	if s.accept, err = ParseCodes(orDefault(c.Accept, DefaultAccept)); err != nil {
		errs = append(errs, fmt.Errorf("accept: %w", err))
	} else if s.accept.IsEmpty() {
		errs = append(errs, errors.New("accept: no code would pass"))
	}
	if s.degraded, err = ParseCodes(orDefault(c.Degraded, DefaultDegraded)); err != nil {
		errs = append(errs, fmt.Errorf("degraded: %w", err))
	}
	if code := s.accept.Overlap(s.degraded); code != 0 {
		errs = append(errs, fmt.Errorf("degraded: code %d is also accepted", code))
	}
	s.fromUser = orDefault(c.FromUser, DefaultFromUser)
	if strings.ContainsAny(s.fromUser, " \t\r\n@:;<>\"") {
		errs = append(errs, fmt.Errorf("from_user: %q contains characters not allowed in a SIP user part", s.fromUser))
	}
	s.userAgent = orDefault(c.UserAgent, DefaultUserAgent)
	if strings.ContainsAny(s.userAgent, "\r\n") {
		errs = append(errs, errors.New("user_agent: must be one line"))
	}
	s.localHost = c.LocalHost
	if s.localHost != "" && !ValidHost(s.localHost) && !isIPv6(s.localHost) {
		errs = append(errs, fmt.Errorf("local_host: %q is not a host name or IP address", s.localHost))
	}
	s.fresh = c.FreshConnection
	if s.target.Transport == TransportTLS {
		if s.tls, err = c.TLS.clientConfig(s.target.Host); err != nil {
			errs = append(errs, err)
		}
	} else if c.TLS != (TLSConfig{}) && s.target.Transport != "" {
		errs = append(errs, fmt.Errorf("tls: set, but target %q does not use TLS", c.Target))
	}
	return s, errors.Join(errs...)
}

// clientConfig builds the tls.Config. host is the target host, verified
// unless ServerName overrides it.
func (t TLSConfig) clientConfig(host string) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         orDefault(t.ServerName, host),
		InsecureSkipVerify: t.Insecure, //nolint:gosec // operator's explicit choice, for lab setups
	}
	if t.CAFile != "" {
		pool, err := ReadCAFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		conf.RootCAs = pool
	} else if !t.Insecure {
		// Load the system roots now: the first load parses every file in
		// /etc/ssl/certs and, inside a handshake, cannot be cut short by the
		// check's deadline.
		if pool, err := x509.SystemCertPool(); err == nil {
			conf.RootCAs = pool
		}
	}
	return conf, nil
}

// ReadCAFile reads a tls.ca_file: a PEM bundle of the CA certificates that
// a TLS target's certificate must chain to. An error names the file.
func ReadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}
