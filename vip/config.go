package vip

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Mode says how the service address moves.
type Mode string

// Modes of moving the service address.
const (
	ModeNetlink Mode = "netlink" // add and delete the address on a local interface, announce it
	ModeScript  Mode = "script"  // run operator commands (cloud elastic IP, DNS record)
	ModeNone    Mode = "none"    // pbxha moves no address
)

// String returns the mode's config name.
func (m Mode) String() string { return string(m) }

// Defaults for Config fields whose zero value means "use the default".
const (
	DefaultGARPCount     = 5
	DefaultGARPInterval  = 200 * time.Millisecond
	DefaultScriptTimeout = 30 * time.Second
)

// maxLabelLen is IFNAMSIZ-1: the kernel rejects longer labels with ERANGE.
const maxLabelLen = 15

// Script holds the commands of script mode. Each is an argv run without a
// shell; the event is passed in the environment (PBXHA_VIP, PBXHA_VIP_CIDR,
// PBXHA_INTERFACE, PBXHA_ACTION).
type Script struct {
	Up    []string // takes the address over; must succeed for Up to succeed
	Down  []string // releases it; must be idempotent (it also runs at start-up)
	Check []string // optional: exit 0 = held here, exit 1 = not held, anything else is an error
	// Timeout bounds each command; on expiry its whole process group is
	// killed. 0: DefaultScriptTimeout.
	Timeout time.Duration
}

// Config configures a VIP. Durations are wall-clock durations.
type Config struct {
	Mode Mode // netlink | script | none; empty means netlink

	// Interface is the link that carries the address (netlink mode), also
	// passed to scripts as PBXHA_INTERFACE.
	Interface string
	// Address is the service address with its prefix length, e.g.
	// 198.18.0.100/32 or fd00:198:18::100/128. A bare address means a host
	// prefix (/32, /128).
	Address string
	// Label is the IPv4 address label (ip addr show shows it; at most 15
	// bytes). Empty: "<interface>:vip" when that fits, else "vip". IPv6
	// addresses have no labels; the field is ignored for them.
	Label string

	GARPCount    int           // announcements after Up/Announce; 0: DefaultGARPCount
	GARPInterval time.Duration // time between them; 0: DefaultGARPInterval
	Refresh      time.Duration // re-announce this often while held; 0: never

	Script Script
}

// withDefaults returns c with zero values replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeNetlink
	}
	if c.GARPCount == 0 {
		c.GARPCount = DefaultGARPCount
	}
	if c.GARPInterval == 0 {
		c.GARPInterval = DefaultGARPInterval
	}
	if c.Script.Timeout == 0 {
		c.Script.Timeout = DefaultScriptTimeout
	}
	if c.Label == "" && c.Interface != "" {
		c.Label = "vip"
		if l := c.Interface + ":vip"; len(l) <= maxLabelLen {
			c.Label = l
		}
	}
	return c
}

// Validate reports every problem of the configuration, each naming its
// config key (vip.label, vip.address...). It touches nothing on the system;
// New also checks the interface and the kernel settings.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vip: config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Mode {
	case ModeNetlink:
		if c.Interface == "" {
			bad("vip.interface", "required in netlink mode")
		} else if len(c.Interface) > maxLabelLen {
			bad("vip.interface", "%q is %d bytes, interface names have at most %d", c.Interface, len(c.Interface), maxLabelLen)
		}
		if c.Address == "" {
			bad("vip.address", "required in netlink mode")
		} else if _, err := parseAddress(c.Address); err != nil {
			bad("vip.address", "%v", err)
		}
		if len(c.Label) > maxLabelLen {
			bad("vip.label", "%q is %d bytes, the kernel allows at most %d", c.Label, len(c.Label), maxLabelLen)
		}
	case ModeScript:
		if len(c.Script.Up) == 0 || c.Script.Up[0] == "" {
			bad("vip.script.up", "required in script mode")
		}
		if len(c.Script.Down) == 0 || c.Script.Down[0] == "" {
			bad("vip.script.down", "required in script mode")
		}
		if len(c.Script.Check) > 0 && c.Script.Check[0] == "" {
			bad("vip.script.check", "empty program name")
		}
		if c.Script.Timeout < 0 {
			bad("vip.script.timeout", "%s is negative", c.Script.Timeout)
		}
		if c.Address != "" {
			if _, err := parseAddress(c.Address); err != nil {
				bad("vip.address", "%v", err)
			}
		}
	case ModeNone:
	default:
		bad("vip.mode", "%q is not one of netlink, script, none", c.Mode)
	}
	if c.GARPCount < 0 {
		bad("vip.garp_count", "%d is negative", c.GARPCount)
	}
	if c.GARPInterval < 0 {
		bad("vip.garp_interval", "%s is negative", c.GARPInterval)
	}
	if c.Refresh < 0 {
		bad("vip.refresh", "%s is negative", c.Refresh)
	} else if c.Refresh > 0 && c.Refresh < 100*time.Millisecond {
		bad("vip.refresh", "%s is below 100ms and would flood the segment", c.Refresh)
	}
	return errors.Join(errs...)
}

// parseAddress reads "IP/len" or a bare IP (host prefix).
func parseAddress(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address with prefix length (198.18.0.100/32)", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	switch {
	case a.Zone() != "":
		return netip.Prefix{}, fmt.Errorf("%q: a zone is not allowed", s)
	case a.Is4In6():
		return netip.Prefix{}, fmt.Errorf("%q: use the plain IPv4 form", s)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
		return netip.Prefix{}, fmt.Errorf("%q is not a unicast address", s)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Prefix{}, fmt.Errorf("%q is not a unicast address", s)
	}
	return p, nil
}
