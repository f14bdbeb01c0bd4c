package dbrole

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/problem"
	"github.com/pbxha/pbxha/probe"
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

// Problem is one thing wrong with a Config: the config key below database
// (dsn, demote_command...) and what is wrong with it, lowercase, as pbxha's
// config check prints it.
type Problem = problem.Problem

// Validate reports every problem of c (zero values read as their defaults)
// as one error, or nil. It does not connect.
func (c Config) Validate() error {
	return problem.List(c.Problems()).Err("dbrole: config: ")
}

// Problems lists every problem of c, zero values read as their defaults.
// These are the only rules about the database keys that the dbrole package
// uses: pbxha's config check reports them as they are.
func (c Config) Problems() []Problem {
	var ps problem.List
	bad := ps.Add
	if c.DSN == "" {
		bad("dsn", "is required")
	} else if _, err := pgx.ParseConfig(c.DSN); err != nil {
		bad("dsn", "does not parse: %v", probe.PGDSNError(err))
	}
	if len(c.DemoteCommand) == 0 && len(c.StopCommand) == 0 {
		bad("demote_command", "or stop_command is required: a released primary database must stop being writable")
	}
	for _, f := range []struct {
		key string
		cmd []string
	}{{"demote_command", c.DemoteCommand}, {"stop_command", c.StopCommand}} {
		if len(f.cmd) > 0 && f.cmd[0] == "" {
			bad(f.key+"[0]", "must name a program")
		}
	}
	for _, f := range []struct {
		key string
		d   time.Duration
	}{
		{"promote_timeout", c.PromoteTimeout}, {"demote_timeout", c.DemoteTimeout},
		{"stop_timeout", c.StopTimeout}, {"connect_timeout", c.ConnectTimeout},
	} {
		if f.d < 0 {
			bad(f.key, "%s must be positive", f.d)
		}
	}
	if _, err := hooks.ParseEnv(c.Env); err != nil {
		bad("env", "%v", err)
	}
	return ps
}

// withDefaults fills zero fields; Validate has checked the rest.
func (c Config) withDefaults() Config {
	for _, f := range []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&c.PromoteTimeout, DefaultPromoteTimeout},
		{&c.DemoteTimeout, DefaultDemoteTimeout},
		{&c.StopTimeout, DefaultStopTimeout},
		{&c.ConnectTimeout, DefaultConnectTimeout},
	} {
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if c.MaxLagBytes == 0 {
		c.MaxLagBytes = DefaultMaxLagBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
