package vip

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind lets a test socket bind to the VIP before the address is on the
// interface.
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	return serr
}
