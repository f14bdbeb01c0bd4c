// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): READY=1 once the service works, STATUS= lines, STOPPING=1,
// and WATCHDOG=1 keep-alives, as datagrams on $NOTIFY_SOCKET. Outside systemd
// (no NOTIFY_SOCKET) every call is a no-op.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to the service manager. Its methods may be
// called concurrently; each sends one datagram and does not block.
type Notifier struct {
	conn     *net.UnixConn // nil when not run by systemd
	addr     string
	watchdog time.Duration // WATCHDOG_USEC, 0 when the watchdog is off
}

// FromEnv returns a Notifier for the socket systemd named in NOTIFY_SOCKET,
// with the watchdog timeout from WATCHDOG_USEC when WATCHDOG_PID is unset or
// names this process. It unsets neither.
func FromEnv() (*Notifier, error) {
	return New(os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

// New returns a Notifier for socket (a path, or "@name" for an abstract
// socket; empty means not under systemd). watchdogUSec and watchdogPID are
// the environment's values; pid is this process.
func New(socket, watchdogUSec, watchdogPID string, pid int) (*Notifier, error) {
	n := &Notifier{addr: socket}
	if watchdogUSec != "" && (watchdogPID == "" || watchdogPID == strconv.Itoa(pid)) {
		us, err := strconv.ParseInt(watchdogUSec, 10, 64)
		if err != nil || us <= 0 {
			return nil, fmt.Errorf("sdnotify: WATCHDOG_USEC %q: want a positive number of microseconds", watchdogUSec)
		}
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	if socket == "" {
		return n, nil
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sdnotify: dial %s: %w", socket, err)
	}
	n.conn = conn
	return n, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.conn != nil }

// WatchdogTimeout returns the watchdog timeout systemd set (WatchdogSec=),
// or 0 when the watchdog is off. Ping at least twice per timeout.
func (n *Notifier) WatchdogTimeout() time.Duration { return n.watchdog }

// Ready tells systemd that start-up is finished, with a status line.
func (n *Notifier) Ready(status string) error { return n.send("READY=1\nSTATUS=" + oneLine(status)) }

// Status updates the status line `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.send("STATUS=" + oneLine(status)) }

// Stopping tells systemd that shutdown has begun.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Reloading tells systemd that a reload has begun; Ready ends it.
func (n *Notifier) Reloading() error { return n.send("RELOADING=1") }

// Watchdog sends one keep-alive.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1") }

// Close releases the socket.
func (n *Notifier) Close() error {
	if n.conn == nil {
		return nil
	}
	return n.conn.Close()
}

func (n *Notifier) send(msg string) error {
	if n.conn == nil {
		return nil
	}
	if _, err := n.conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", n.addr, err)
	}
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
