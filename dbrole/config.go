package dbrole

import (
	"errors"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/hooks"
)

// Defaults for the Config fields whose zero value means "use the default".
const (
	DefaultMaxLagBytes    = 1 << 20 // 1 MiB
	DefaultPromoteTimeout = 10 * time.Second
	DefaultDemoteTimeout  = 60 * time.Second
	DefaultStopTimeout    = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
)

// Config configures a Mover. Durations are wall-clock durations.
type Config struct {
	// DSN is a libpq URL or key=value string for the local server. Its user
	// must be a superuser, or be granted EXECUTE on pg_promote() and
	// pg_monitor. The DSN is never passed to commands.
	DSN string
	// MaxLagBytes is how far, in bytes of WAL, the local standby may trail
	// the peer's last announced position and still be promoted. Zero means
	// DefaultMaxLagBytes.
	MaxLagBytes uint64
	// AllowLag promotes however far behind the standby is, and when the
	// peer's position is unknown: availability over data.
	AllowLag bool
	// PromoteTimeout bounds the promotion: how long the server may take to
	// finish recovery after pg_promote(). Zero means DefaultPromoteTimeout.
	PromoteTimeout time.Duration
	// DemoteCommand is the argv (no shell) that turns the local primary into
	// a standby of the new primary, or at least stops it. Empty: go
	// straight to StopCommand.
	DemoteCommand []string
	// DemoteTimeout bounds DemoteCommand; then its process group is killed.
	// Zero means DefaultDemoteTimeout.
	DemoteTimeout time.Duration
	// StopCommand stops the local server when demotion failed, e.g.
	// ["pg_ctlcluster","15","main","stop","-m","fast"]. Empty: no fallback.
	StopCommand []string
	// StopTimeout bounds StopCommand. Zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// Env holds extra KEY=VALUE entries for both commands (PGDATA,
	// PRIMARY_CONNINFO...), on top of pbxha's environment minus its PBXHA_*
	// variables.
	Env []string
	// ConnectTimeout bounds each connection to the local server, unless the
	// DSN sets connect_timeout. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Now returns the current time for Result timestamps; nil means
	// time.Now.
	Now func() time.Time
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.DSN == "" {
		return c, errors.New("dbrole: config: dsn is empty")
	}
	if len(c.DemoteCommand) == 0 && len(c.StopCommand) == 0 {
		return c, errors.New("dbrole: config: demote_command or stop_command is required: a primary that cannot be demoted must be stopped")
	}
	for _, f := range []struct {
		name string
		cmd  []string
	}{{"demote_command", c.DemoteCommand}, {"stop_command", c.StopCommand}} {
		if len(f.cmd) > 0 && f.cmd[0] == "" {
			return c, fmt.Errorf("dbrole: config: %s: program name is empty", f.name)
		}
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"promote_timeout", &c.PromoteTimeout, DefaultPromoteTimeout},
		{"demote_timeout", &c.DemoteTimeout, DefaultDemoteTimeout},
		{"stop_timeout", &c.StopTimeout, DefaultStopTimeout},
		{"connect_timeout", &c.ConnectTimeout, DefaultConnectTimeout},
	} {
		if *f.d < 0 {
			return c, fmt.Errorf("dbrole: config: %s %s: must not be negative", f.name, *f.d)
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if c.MaxLagBytes == 0 {
		c.MaxLagBytes = DefaultMaxLagBytes
	}
	if _, err := hooks.ParseEnv(c.Env); err != nil {
		return c, fmt.Errorf("dbrole: config: env: %w", err)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
