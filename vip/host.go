package vip

import (
	"fmt"
	"strings"

	"github.com/pbxha/pbxha/internal/problem"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CheckHost reports what New would refuse about this host, changing nothing
// and opening no announcement socket: in netlink mode, an interface that
// does not exist, or an address that would be a secondary of the
// interface's own while promote_secondaries is off (it would vanish with
// that address). Other modes have nothing to check here, and neither has a
// Config with Problems. The problems are keyed like Problems'. The check
// runs in the network namespace of the calling thread.
func (c Config) CheckHost() []Problem {
	if c.Mode != ModeNetlink || len(c.Problems()) > 0 {
		return nil
	}
	prefix, _ := parseAddress(c.Address) // Problems checked it
	n := &netlinkVIP{cfg: c.withDefaults(), prefix: prefix}
	defer n.close()
	var err error
	if n.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return []Problem{{Key: "vip.interface", Msg: fmt.Sprintf("cannot list this host's interfaces: %v", err)}}
	}
	if err := n.nl.SetSocketTimeout(netlinkTimeout); err != nil {
		return []Problem{{Key: "vip.interface", Msg: fmt.Sprintf("cannot list this host's interfaces: %v", err)}}
	}
	link, err := n.link()
	if err != nil {
		return []Problem{{Key: "vip.interface", Msg: fmt.Sprintf("%q is not an interface of this host (%v)", c.Interface, problem.Innermost(err))}}
	}
	if err := n.checkSecondary(link); err != nil {
		return []Problem{{Key: "vip.address", Msg: strings.TrimPrefix(err.Error(), "vip.address: ")}}
	}
	return nil
}
