package configs

import (
	"time"

	"github.com/pbxha/pbxha/mysqlrole"
	"github.com/pbxha/pbxha/probe"
)

// DatabaseKind is database.kind: which server the database section names,
// and so which package moves its role.
type DatabaseKind string

// The database kinds.
const (
	DatabasePostgreSQL DatabaseKind = "postgresql" // package dbrole, a pg probe
	DatabaseMariaDB    DatabaseKind = "mariadb"    // package mysqlrole, a mysql probe
	DatabaseMySQL      DatabaseKind = "mysql"      // package mysqlrole, a mysql probe
)

// DatabaseKinds lists the kinds in the order config check names them.
var DatabaseKinds = []DatabaseKind{DatabasePostgreSQL, DatabaseMariaDB, DatabaseMySQL}

// MySQLFamily reports whether the kind is MariaDB or MySQL.
func (k DatabaseKind) MySQLFamily() bool { return k == DatabaseMariaDB || k == DatabaseMySQL }

// DatabaseKind is database.kind, typed.
func (c *Config) DatabaseKind() DatabaseKind { return DatabaseKind(c.Database.Kind) }

// DatabaseRejoins reports whether a release only closes the database's
// writes and makes it a standby of the new primary in the background
// (act.Config.Rejoin): for PostgreSQL when both stop_command and
// demote_command are set, always for MariaDB and MySQL, whose mover
// re-points replication itself.
func (c *Config) DatabaseRejoins() bool {
	if c.DatabaseKind().MySQLFamily() {
		return true
	}
	return len(c.Database.StopCommand) > 0 && len(c.Database.DemoteCommand) > 0
}

// MySQLRoleConfig is the database section as the mysqlrole package takes
// it (database.kind mariadb or mysql). max_lag_transactions is at least 1
// in a valid config.
func (c *Config) MySQLRoleConfig() mysqlrole.Config {
	d := c.Database
	return mysqlrole.Config{
		DSN: d.DSN, MaxLagTransactions: uint64(max(d.MaxLagTransactions, 0)), AllowLag: d.AllowLag,
		PromoteTimeout: d.PromoteTimeout, DemoteTimeout: d.DemoteTimeout, StopTimeout: d.StopTimeout,
		StopCommand: d.StopCommand, Env: d.Env, PeerHost: d.PeerHost, PeerPort: d.PeerPort,
	}
}

// MySQLConfig is a mysql probe of node as package probe takes it.
func (c MySQLProbe) MySQLConfig(node string) probe.MySQLConfig {
	return probe.MySQLConfig{DSN: c.DSN, ExpectRole: probe.MySQLRole(c.ExpectRole), Table: c.Table, Node: node}
}

// maxLag is the policy's lag limit: bytes of WAL for PostgreSQL,
// transactions for MariaDB and MySQL (the unit of the position the
// heartbeat carries).
func (c *Config) maxLag() uint64 {
	if c.DatabaseKind().MySQLFamily() {
		return uint64(max(c.Database.MaxLagTransactions, 0))
	}
	return uint64(max(c.Database.MaxLagBytes, 0))
}

// database checks the database section: the dbrole or mysqlrole package
// holds the rules of the keys it takes; the file adds the kind, that the
// role moves only in a pair and with a probe of the same server that
// reports its position, that the lag limit is at least 1, that a zero
// where the package would read its default is a mistake, and that keys of
// the other kind are not set.
func (ck *checker) database(c *Config, paired bool) {
	db := &c.Database
	kinds := make([]string, len(DatabaseKinds))
	for i, k := range DatabaseKinds {
		kinds[i] = string(k)
	}
	oneOf(ck, "database.kind", db.Kind, kinds...)
	rebuildSet := db.DataDir != "" || len(db.StartCommand) > 0 || db.RebuildOnRewindFailure
	if db.DSN == "" {
		if rebuildSet {
			ck.bad("database.data_dir", "and the other rebuild keys need database.dsn: a standby rebuild re-clones the managed database")
		}
		return
	}
	if !paired {
		ck.bad("database.dsn", "is set but peer.paths is not: the database role moves only between the nodes of a pair")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"promote_timeout", db.PromoteTimeout}, {"demote_timeout", db.DemoteTimeout}, {"stop_timeout", db.StopTimeout}} {
		if d.v == 0 {
			ck.bad("database."+d.key, "%s must be positive", d.v)
		}
	}
	kind := c.DatabaseKind()
	switch {
	case kind.MySQLFamily():
		if len(c.Probes.MySQL) == 0 {
			ck.bad("database.dsn", "needs a mysql probe of the same server (probes.mysql): its role and GTID position go into every heartbeat")
		}
		if db.MaxLagTransactions < 1 {
			ck.bad("database.max_lag_transactions", "%d must be at least 1 (allow_lag: true promotes however far behind)", db.MaxLagTransactions)
		}
		if len(db.DemoteCommand) > 0 {
			ck.bad("database.demote_command", "applies to kind postgresql: pbxha re-points a released %s server as a replica itself", kind)
		}
		if rebuildSet {
			ck.bad("database.data_dir", "and the other rebuild keys apply to kind postgresql: a standby rebuild clones with pg_basebackup")
		}
		for _, p := range c.MySQLRoleConfig().Problems() {
			ck.bad("database."+p.Key, "%s", p.Msg)
		}
	case kind == DatabasePostgreSQL:
		if len(c.Probes.PG) == 0 {
			ck.bad("database.dsn", "needs a pg probe of the same server (probes.pg): its role and WAL position go into every heartbeat")
		}
		if db.MaxLagBytes < 1 {
			ck.bad("database.max_lag_bytes", "%d must be at least 1 (allow_lag: true promotes however far behind)", db.MaxLagBytes)
		}
		if db.PeerHost != "" || db.PeerPort != 0 {
			ck.bad("database.peer_host", "and peer_port apply to kinds mariadb and mysql: a PostgreSQL standby finds its primary through the demote command (PRIMARY_CONNINFO)")
		}
		for _, p := range c.DBRoleConfig().Problems() {
			ck.bad("database."+p.Key, "%s", p.Msg)
		}
		ck.rebuild(c)
	}
}

// rebuild checks the standby rebuild's keys of a PostgreSQL database
// section: the rebuild package holds the rules of the keys it takes; the
// file adds that a zero where rebuild would read its default is a mistake
// and what rebuild_on_rewind_failure needs.
func (ck *checker) rebuild(c *Config) {
	db := &c.Database
	rc := c.RebuildConfig()
	for _, p := range rc.Problems() {
		ck.bad("database."+p.Key, "%s", p.Msg)
	}
	if db.StartTimeout == 0 {
		ck.bad("database.start_timeout", "%s must be positive", db.StartTimeout)
	}
	if db.RebuildTimeout == 0 {
		ck.bad("database.rebuild_timeout", "%s must be positive", db.RebuildTimeout)
	}
	if db.RebuildOnRewindFailure {
		switch {
		case !rc.Enabled():
			ck.bad("database.rebuild_on_rewind_failure", "needs data_dir and start_command: the rebuild it starts replaces the data directory")
		case len(db.StopCommand) == 0 || len(db.DemoteCommand) == 0:
			ck.bad("database.rebuild_on_rewind_failure", "needs stop_command and demote_command: it follows a failed rejoin, which only a release with both runs")
		}
	}
}
