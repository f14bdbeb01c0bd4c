package esl

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultAddress        = "127.0.0.1:8021"
	DefaultPassword       = "ClueCon" // FreeSWITCH's shipped event_socket.conf.xml password
	DefaultBackoffInitial = 500 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
	DefaultAuthBackoff    = time.Minute
	DefaultTimeout        = 2 * time.Second
)

// Config is one ESL probe. It mirrors configs.ESLProbe, plus the reconnect
// policy, which that file leaves to these defaults.
type Config struct {
	Address  string   // host:port of the event socket; default DefaultAddress
	Password string   // ESL password; default DefaultPassword
	Profiles []string // sofia profiles (or aliases) that must be RUNNING

	CountCalls       bool    // also run "show calls count"
	MaxSessionsShare float64 // degraded when sessions exceed this share (0..1] of max sessions; 0 disables
	MinIdleCPU       float64 // degraded when idle CPU drops below this percentage (0..100]; 0 disables

	BackoffInitial time.Duration // first wait before redialing after a failed dial; doubles up to BackoffMax
	BackoffMax     time.Duration
	AuthBackoff    time.Duration // wait before redialing after a rejected password or ACL denial
	Timeout        time.Duration // bound of a check whose context has no deadline

	Logger *slog.Logger // connection events at debug and info level; nil discards them
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Password == "" {
		c.Password = DefaultPassword
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffInitial)
	}
	if c.AuthBackoff == 0 {
		c.AuthBackoff = DefaultAuthBackoff
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	fail := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("esl: config %s: "+format, append([]any{c.Address}, a...)...)
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fail("address: %w", err)
	}
	if strings.ContainsAny(c.Password, "\r\n") {
		return fail("password must not contain line breaks")
	}
	for _, p := range c.Profiles {
		if p == "" || strings.ContainsAny(p, " \t\r\n") {
			return fail("profile %q: want a name without spaces", p)
		}
	}
	switch {
	case c.MaxSessionsShare < 0 || c.MaxSessionsShare > 1:
		return fail("max_sessions_share %g: want 0 (off) to 1", c.MaxSessionsShare)
	case c.MinIdleCPU < 0 || c.MinIdleCPU > 100:
		return fail("min_idle_cpu %g: want 0 (off) to 100", c.MinIdleCPU)
	case c.BackoffInitial < 0 || c.BackoffMax < c.BackoffInitial:
		return fail("back-off %s..%s: want 0 <= initial <= max", c.BackoffInitial, c.BackoffMax)
	case c.AuthBackoff < 0 || c.Timeout < 0:
		return fail("auth back-off %s and timeout %s must not be negative", c.AuthBackoff, c.Timeout)
	}
	return c, nil
}
