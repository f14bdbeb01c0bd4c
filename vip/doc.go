// Package vip moves the service address: it adds the virtual IP to an
// interface with netlink and announces it (gratuitous ARP for IPv4,
// unsolicited neighbour advertisement for IPv6), removes it on release, or,
// where no address can move, runs operator scripts that move an elastic IP or
// a DNS record instead.
package vip
