package vip

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pbxha/pbxha/internal/problem"
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
// Mode has none: a Config says which mode it wants.
const (
	DefaultGARPCount     = 5
	DefaultGARPInterval  = 200 * time.Millisecond
	DefaultScriptTimeout = 30 * time.Second
)

// MinRefresh is the shortest Refresh accepted: announcing more often would
// flood the segment.
const MinRefresh = 100 * time.Millisecond

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
	Mode Mode // netlink | script | none; required

	// Interface is the link that carries the address (netlink mode), also
	// passed to scripts as PBXHA_INTERFACE.
	Interface string
	// Address is the service address with its prefix length, e.g.
	// 198.18.0.100/32 or fd00:198:18::100/128. Script mode, which only
	// passes it to the commands, also takes a bare address.
	Address string
	// Label is the IPv4 address label (ip addr show shows it; at most 15
	// bytes). Empty: "<interface>:vip" when that fits, else "vip". IPv6
	// addresses have no labels; the field is ignored for them.
	Label string

	GARPCount    int           // announcements after Up/Announce; 0: DefaultGARPCount
	GARPInterval time.Duration // time between them; 0: DefaultGARPInterval
	Refresh      time.Duration // re-announce this often while held, at least MinRefresh; 0: never

	Script Script
}

// withDefaults returns c with zero values replaced by their defaults.
func (c Config) withDefaults() Config {
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

// Problem is one thing wrong with a Config: the config key (vip.address...)
// and what is wrong with it, lowercase, as pbxha's config check prints it.
type Problem = problem.Problem

// Validate reports every problem of the configuration as one error, or nil.
// It touches nothing on the system; New also checks the interface and the
// kernel settings (see CheckHost).
func (c Config) Validate() error {
	return problem.List(c.Problems()).Err("vip: config: ")
}

// Problems lists every problem of the configuration, zero values read as
// their defaults. These are the only rules about the vip keys: pbxha's
// config check reports them as they are.
func (c Config) Problems() []Problem {
	c = c.withDefaults()
	var ps problem.List
	bad := ps.Add
	switch c.Mode {
	case ModeNetlink:
		switch {
		case c.Interface == "":
			bad("vip.interface", "is required with vip.mode netlink, e.g. eth0")
		case len(c.Interface) > maxLabelLen:
			bad("vip.interface", "%q is %d bytes; interface names have at most %d", c.Interface, len(c.Interface), maxLabelLen)
		}
		if c.Address == "" {
			bad("vip.address", "is required with vip.mode netlink, e.g. 192.0.2.100/32")
		} else if _, err := parseAddress(c.Address); err != nil {
			bad("vip.address", "%v", err)
		}
		if len(c.Label) > maxLabelLen {
			bad("vip.label", "%q is %d bytes; the kernel takes at most %d", c.Label, len(c.Label), maxLabelLen)
		}
	case ModeScript:
		for _, cmd := range []struct {
			key  string
			argv []string
		}{{"vip.script.up", c.Script.Up}, {"vip.script.down", c.Script.Down}} {
			switch {
			case len(cmd.argv) == 0:
				bad(cmd.key, "is required with vip.mode script")
			case cmd.argv[0] == "":
				bad(cmd.key+"[0]", "must name a program")
			}
		}
		if len(c.Script.Check) > 0 && c.Script.Check[0] == "" {
			bad("vip.script.check[0]", "must name a program")
		}
		if c.Address != "" {
			if _, err := parseScriptAddress(c.Address); err != nil {
				bad("vip.address", "%v", err)
			}
		}
	case ModeNone:
	case "":
		bad("vip.mode", "is required: netlink, script or none")
	default:
		bad("vip.mode", "%q must be one of netlink, script, none", c.Mode)
	}
	if c.Script.Timeout < 0 {
		bad("vip.script.timeout", "%s must not be negative", c.Script.Timeout)
	}
	if c.GARPCount < 0 {
		bad("vip.garp_count", "%d must not be negative", c.GARPCount)
	}
	if c.GARPInterval < 0 {
		bad("vip.garp_interval", "%s must not be negative", c.GARPInterval)
	}
	switch {
	case c.Refresh < 0:
		bad("vip.refresh", "%s must not be negative (0: no refresh)", c.Refresh)
	case c.Refresh > 0 && c.Refresh < MinRefresh:
		bad("vip.refresh", "%s is below %s and would flood the segment (0: no refresh)", c.Refresh, MinRefresh)
	}
	return ps
}

// parseAddress reads "IP/len". A bare IP is refused: the prefix length
// decides whether the address becomes a secondary of the interface's own
// (see checkSecondary), so it is written out.
func parseAddress(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q must be an address with its prefix length, e.g. 192.0.2.100/32", s)
	}
	return p, checkUnicast(p.Addr(), s)
}

// parseScriptAddress reads the address of script mode, which is only passed
// to the commands: "IP/len", or a bare IP (a host prefix).
func parseScriptAddress(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), checkUnicast(a, s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q must be an address, optionally with its prefix length, e.g. 192.0.2.100/32", s)
	}
	return p, checkUnicast(p.Addr(), s)
}

// checkUnicast refuses addresses that cannot be a service address; s is
// the address as written, for the message.
func checkUnicast(a netip.Addr, s string) error {
	switch {
	case a.Zone() != "":
		return fmt.Errorf("%q must not have a zone", s)
	case a.Is4In6():
		return fmt.Errorf("%q: use the plain IPv4 form", s)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
		return fmt.Errorf("%q is not a unicast address", s)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%q is not a unicast address", s)
	}
	return nil
}
