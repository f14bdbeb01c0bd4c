package mysqlrole

import (
	"time"

	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/internal/problem"
	"github.com/pbxha/pbxha/probe"
)

// Defaults for the Config fields whose zero value means "use the default".
// The timeouts are dbrole's, so that both kinds of database behave alike.
const (
	DefaultMaxLagTransactions = 100
	DefaultPromoteTimeout     = dbrole.DefaultPromoteTimeout
	DefaultDemoteTimeout      = dbrole.DefaultDemoteTimeout
	DefaultStopTimeout        = 10 * time.Second
	DefaultConnectTimeout     = dbrole.DefaultConnectTimeout
)

// Config configures a Mover. Durations are wall-clock durations.
type Config struct {
	// DSN is the Go MySQL driver DSN of the local server
	// ("pbxha:secret@tcp(127.0.0.1:3306)/"). Its user needs the grants
	// docs/mysql.md lists; its user and password also serve to reach the
	// peer and to replicate from it (CHANGE MASTER TO ... MASTER_USER).
	DSN string
	// MaxLagTransactions is how many transactions the local replica may
	// lack of the peer's last announced GTID position and still be
	// promoted. Zero means DefaultMaxLagTransactions.
	MaxLagTransactions uint64
	// AllowLag promotes however far behind the replica is, and when the
	// peer's position is unknown: availability over data.
	AllowLag bool
	// PromoteTimeout bounds the promotion: receiving what the peer
	// announced, applying the relay log, opening writes. Zero means
	// DefaultPromoteTimeout.
	PromoteTimeout time.Duration
	// DemoteTimeout bounds a rejoin: waiting for the peer to become
	// writable and starting replication from it. Zero means
	// DefaultDemoteTimeout.
	DemoteTimeout time.Duration
	// StopTimeout bounds setting read_only and sending the replicas the
	// rest of the binary log, and then StopCommand. Zero means
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// StopCommand is the argv (no shell) that stops the local server when it
	// cannot be made read-only (hung, refusing the statement), e.g.
	// ["systemctl","kill","-s","KILL","mariadb"]. Empty: no fallback, and
	// such a release fails.
	StopCommand []string
	// Env holds extra KEY=VALUE entries for StopCommand.
	Env []string
	// PeerHost is where the peer's server is reached to replicate from it;
	// empty: the peer's address on the first heartbeat path
	// (DemoteArgs.PeerHost).
	PeerHost string
	// PeerPort is the peer's server port; zero: the local DSN's port.
	PeerPort int
	// ConnectTimeout bounds each connection, unless the DSN sets timeout.
	// Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Now returns the current time for Result timestamps; nil means
	// time.Now.
	Now func() time.Time
}

// Problem is one thing wrong with a Config: the config key below database
// and what is wrong with it.
type Problem = problem.Problem

// Validate reports every problem of c as one error, or nil. It does not
// connect.
func (c Config) Validate() error {
	return problem.List(c.Problems()).Err("mysqlrole: config: ")
}

// Problems lists every problem of c, zero values read as their defaults.
// These are the only rules about the database keys that the mysqlrole
// package uses: pbxha's config check reports them as they are.
func (c Config) Problems() []Problem {
	var ps problem.List
	bad := ps.Add
	if c.DSN == "" {
		bad("dsn", "is required")
	} else if mc, err := probe.ParseMySQLDSN(c.DSN); err != nil {
		bad("dsn", "does not parse: %v", err)
	} else if mc.User == "" {
		bad("dsn", "names no user: pbxha connects as a user with the grants docs/mysql.md lists")
	}
	if len(c.StopCommand) > 0 && c.StopCommand[0] == "" {
		bad("stop_command[0]", "must name a program")
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
	if c.PeerPort < 0 || c.PeerPort > 65535 {
		bad("peer_port", "%d must be a port, 1 to 65535 (0: the dsn's port)", c.PeerPort)
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
	if c.MaxLagTransactions == 0 {
		c.MaxLagTransactions = DefaultMaxLagTransactions
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
